package apps_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/chorus-dev/chorus/apps"
)

func TestSamples(t *testing.T) {
	got := apps.Samples()
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
		if len(s.Files[apps.EntryPoint]) == 0 {
			t.Errorf("%s: no %s", s.Name, apps.EntryPoint)
		}
		for p := range s.Files {
			if strings.HasPrefix(p, "testdata/") || strings.HasPrefix(p, "tools/") || strings.HasSuffix(p, ".go") ||
				strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
				t.Errorf("%s: %q should not be in the bundle", s.Name, p)
			}
		}
	}
	if strings.Join(names, ",") != "weather,echo,menu" {
		t.Errorf("samples = %v", names)
	}
	w, err := apps.Get("weather")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"main.lua", "zips.lua", "nws.lua", "zips.csv.gz", "NOTICE"} {
		if _, ok := w.Files[f]; !ok {
			t.Errorf("weather has no %s", f)
		}
	}
	if _, err := apps.Get("nope"); err == nil {
		t.Error("Get(nope): no error")
	}
}

// TestLuaCompiles parses every script as Lua 5.1 and checks that each
// require names a module of the same bundle.
func TestLuaCompiles(t *testing.T) {
	requireRE := regexp.MustCompile(`require\s*\(?\s*"([^"]+)"`)
	for _, s := range apps.Samples() {
		for p, b := range s.Files {
			if !strings.HasSuffix(p, ".lua") {
				continue
			}
			chunk, err := parse.Parse(bytes.NewReader(b), s.Name+"/"+p)
			if err != nil {
				t.Errorf("%s/%s: %v", s.Name, p, err)
				continue
			}
			if _, err := lua.Compile(chunk, p); err != nil {
				t.Errorf("%s/%s: %v", s.Name, p, err)
			}
			for _, m := range requireRE.FindAllStringSubmatch(string(b), -1) {
				if _, ok := s.Files[m[1]+".lua"]; !ok {
					t.Errorf("%s/%s: require(%q) has no %s.lua in the bundle", s.Name, p, m[1], m[1])
				}
			}
		}
	}
}

// zipRows reads the weather data: zip -> fields after the key.
func zipRows(t *testing.T) map[string][]string {
	t.Helper()
	w, err := apps.Get("weather")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(w.Files["zips.csv.gz"]))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	sc := bufio.NewScanner(zr)
	prev := ""
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 5 || len(f[0]) != 5 || strings.Trim(f[0], "0123456789") != "" {
			t.Fatalf("bad row %q", sc.Text())
		}
		if f[0] <= prev {
			t.Fatalf("rows not sorted and unique at %s after %s", f[0], prev)
		}
		prev = f[0]
		for _, c := range f[3:] {
			if i := strings.IndexByte(c, '.'); i >= 0 && len(c)-i-1 > 4 {
				t.Fatalf("more than 4 decimals in %q", sc.Text())
			}
		}
		rows[f[0]] = f[1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestZipData(t *testing.T) {
	rows := zipRows(t)
	if len(rows) < 40000 {
		t.Errorf("%d rows, want >= 40,000", len(rows))
	}
	checks := map[string]string{
		"32801": "Orlando,FL,28.5399,-81.3727",
		"90210": "Beverly Hills,CA,34.0901,-118.4065",
		"10001": "New York,NY,40.7484,-73.9967",
		"99553": "Akutan,AK,54.143,-165.7854",
		"09007": "APO,AE,49.4077,8.6908",
	}
	for zip, want := range checks {
		if got := strings.Join(rows[zip], ","); got != want {
			t.Errorf("%s = %q, want %q", zip, got, want)
		}
	}
	if _, ok := rows["00000"]; ok {
		t.Error("00000 should be unknown (the transcripts use it)")
	}
}

func TestBundle(t *testing.T) {
	for _, s := range apps.Samples() {
		b, err := apps.Bundle(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := apps.Bundle(s.Name)
		if !bytes.Equal(b, again) {
			t.Errorf("%s: bundle bytes differ between calls", s.Name)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		var order []string
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(tr)
			if !bytes.Equal(body, s.Files[h.Name]) || h.Typeflag != tar.TypeReg {
				t.Errorf("%s: entry %s differs from the sample's file", s.Name, h.Name)
			}
			order = append(order, h.Name)
		}
		if len(order) != len(s.Files) || order[0] != apps.EntryPoint {
			t.Errorf("%s: entries %v", s.Name, order)
		}
	}
	if _, err := apps.Bundle("nope"); err == nil {
		t.Error("Bundle(nope): no error")
	}
}

func ExampleBundle() {
	b, err := apps.Bundle("weather")
	if err != nil {
		panic(err)
	}
	// PUT /v1/apps/weather with Content-Type: application/gzip and body b.
	fmt.Println(len(b) > 0)
	// Output: true
}
