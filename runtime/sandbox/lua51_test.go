package sandbox

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The Lua 5.1 conformance cases: testdata/lua51/cases.txt holds one Lua
// expression list per line, cases.golden what Lua 5.1.5 returns for each,
// described by testdata/lua51/driver.lua. Regenerate the golden file with
//
//	cd testdata/lua51 && lua5.1 gen.lua < cases.txt > cases.golden
//
// TestLua51Golden checks the golden file against a lua5.1 on the PATH, when
// there is one.

func loadCases(t *testing.T) (cases, golden []string) {
	t.Helper()
	f, err := os.Open("testdata/lua51/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "--") {
			cases = append(cases, line)
		}
	}
	g, err := os.ReadFile("testdata/lua51/cases.golden")
	if err != nil {
		t.Fatal(err)
	}
	golden = strings.Split(strings.TrimSuffix(string(g), "\n"), "\n")
	if len(golden) != len(cases) {
		t.Fatalf("%d cases but %d golden lines", len(cases), len(golden))
	}
	return cases, golden
}

// Messages raised by gopher-lua itself name functions differently
// ("bad argument #2 to setmetatable", "to '?'"): the function name is
// normalized away.
// Errors raised by a Go function that pcall calls directly carry the
// position of the Lua caller in gopher-lua, none in Lua 5.1.
var (
	argFuncName = regexp.MustCompile(`bad argument #(\d+) to '?[^' ]*'? \(`)
	position    = regexp.MustCompile(`main\.lua:\d+: `)
)

func normalizeCase(s string) string {
	s = position.ReplaceAllString(s, "")
	return argFuncName.ReplaceAllString(s, "bad argument #$1 to F (")
}

func TestLua51Cases(t *testing.T) {
	cases, golden := loadCases(t)
	driver, err := os.ReadFile("testdata/lua51/driver.lua")
	if err != nil {
		t.Fatal(err)
	}
	sb := newTestSandbox(t, Config{})
	for i, c := range cases {
		src := string(driver) + "\nresult = describe(function() return " + c + "\nend)"
		v, err := runScript(t, sb, src)
		if err != nil {
			t.Errorf("%s: %v", c, err)
			continue
		}
		got := strings.ReplaceAll(v.String(), "\n", `\n`)
		if normalizeCase(got) != normalizeCase(golden[i]) {
			t.Errorf("%s\n got: %s\nwant: %s", c, got, golden[i])
		}
	}
}

func TestLua51Golden(t *testing.T) {
	lua51, err := exec.LookPath("lua5.1")
	if err != nil {
		t.Fatal("lua5.1 is not on the PATH: run `make test-deps` (Debian package lua5.1)")
	}
	cases, err := os.ReadFile("testdata/lua51/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lua51, "gen.lua")
	cmd.Dir = "testdata/lua51"
	cmd.Stdin = bytes.NewReader(cases)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile("testdata/lua51/cases.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, golden) {
		t.Error("testdata/lua51/cases.golden is not what lua5.1 returns for cases.txt; regenerate it")
	}
}
