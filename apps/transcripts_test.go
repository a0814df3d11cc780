package apps_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-dev/chorus/apps"
	"github.com/chorus-dev/chorus/apps/internal/scripttest"
	"github.com/chorus-dev/chorus/apps/weather/nwsfake"
)

// play runs one transcript file against sample app and returns the fake
// weather service it started, if any.
func play(t *testing.T, app, file string) *nwsfake.Server {
	t.Helper()
	tr, err := scripttest.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := apps.Get(app)
	if err != nil {
		t.Fatal(err)
	}
	var fake *nwsfake.Server
	if tr.NWS != "" {
		mode, err := nwsfake.ParseMode(tr.NWS)
		if err != nil {
			t.Fatal(err)
		}
		fake = nwsfake.StartT(t, nwsfake.Options{Mode: mode})
	}
	cfg := map[string]string{}
	for _, kv := range tr.Config {
		k, v, _ := strings.Cut(kv, "=")
		if strings.Contains(v, "{{NWS}}") {
			if fake == nil {
				t.Fatalf("%s uses {{NWS}} without an nws: header", file)
			}
			v = strings.ReplaceAll(v, "{{NWS}}", fake.URL())
		}
		cfg[k] = v
	}
	res := scripttest.Run(context.Background(), tr, scripttest.Options{Bundle: s.Files, Config: cfg})
	if d := scripttest.Diff(tr.Lines, res.Lines); d != "" {
		t.Errorf("%s\nlog:\n  %s", d, strings.Join(res.Logs, "\n  "))
	}
	if res.Err != nil && tr.End != "error" {
		t.Errorf("run: %v\nlog:\n  %s", res.Err, strings.Join(res.Logs, "\n  "))
	}
	if tr.End != "" && res.End != tr.End {
		t.Errorf("end = %s, want %s", res.End, tr.End)
	}
	return fake
}

// TestTranscripts plays every apps/<app>/testdata/*.transcript.
func TestTranscripts(t *testing.T) {
	n := 0
	for _, s := range apps.Samples() {
		files, err := filepath.Glob(filepath.Join(s.Name, "testdata", "*.transcript"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("%s has no transcripts", s.Name)
		}
		for _, f := range files {
			n++
			t.Run(s.Name+"/"+filepath.Base(f), func(t *testing.T) {
				t.Parallel()
				play(t, s.Name, f)
			})
		}
	}
	if n == 0 {
		t.Fatal("no transcripts")
	}
}

// TestWeatherTalksToNWSProperly checks the requests behind the plain
// "32801" transcript: the sample's User-Agent and Accept, a 4-decimal
// point, then the forecast URL the point gave.
func TestWeatherTalksToNWSProperly(t *testing.T) {
	fake := play(t, "weather", filepath.Join("weather", "testdata", "zip-direct.transcript"))
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %+v", reqs)
	}
	want := []string{"/points/28.5399,-81.3727", "/gridpoints/MLB/26,68/forecast"}
	for i, r := range reqs {
		if r.Path != want[i] || r.Status != 200 ||
			r.UserAgent != "(Chorus weather sample, https://github.com/chorus-dev/chorus)" ||
			r.Accept != "application/geo+json" {
			t.Errorf("request %d = %+v", i, r)
		}
	}
}

// TestWeatherRetriesOnce checks the retry counts behind the 500once and
// down transcripts.
func TestWeatherRetriesOnce(t *testing.T) {
	fake := play(t, "weather", filepath.Join("weather", "testdata", "nws-500-then-ok.transcript"))
	if c := fake.Counts(); c.Points != 2 || c.Forecasts != 1 || c.Errors != 1 {
		t.Errorf("500once: counts = %+v", c)
	}
	fake = play(t, "weather", filepath.Join("weather", "testdata", "nws-down.transcript"))
	if c := fake.Counts(); c.Points != 2 || c.Forecasts != 0 || c.Errors != 2 {
		t.Errorf("down: counts = %+v", c)
	}
}
