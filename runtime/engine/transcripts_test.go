package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-dev/chorus/apps"
	"github.com/chorus-dev/chorus/apps/weather/nwsfake"
	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/channeltest"
)

// TestSampleTranscripts plays every golden conversation of the sample apps
// (apps/<app>/testdata/*.transcript) against the real engine, sandbox and
// store, with the weather app talking to a local fake of api.weather.gov.
func TestSampleTranscripts(t *testing.T) {
	files, err := filepath.Glob("../../apps/*/testdata/*.transcript")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts found: %v", err)
	}
	for _, f := range files {
		appName := filepath.Base(filepath.Dir(filepath.Dir(f)))
		t.Run(appName+"/"+strings.TrimSuffix(filepath.Base(f), ".transcript"), func(t *testing.T) {
			raw, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			tr, err := channeltest.Parse(f, raw)
			if err != nil {
				t.Fatal(err)
			}
			sample, err := apps.Get(appName)
			if err != nil {
				t.Fatal(err)
			}
			nwsURL := "http://127.0.0.1:1" // nothing listens: "unreachable"
			if tr.NWS != "" {
				mode, err := nwsfake.ParseMode(tr.NWS)
				if err != nil {
					t.Fatal(err)
				}
				nwsURL = nwsfake.StartT(t, nwsfake.Options{Mode: mode}).URL()
			}
			cfg := map[string]string{}
			for k, v := range tr.Config {
				cfg[k] = strings.ReplaceAll(v, "{{NWS}}", nwsURL)
			}
			h := newHarness(t, harnessOptions{HTTPAllow: []string{"127.0.0.1:*"}})
			to := tr.To
			if to == "" {
				to = appName
				if tr.Network == "sms" || tr.Voice() {
					to = "+14075550100"
				}
			}
			n := channels.Network(tr.Network)
			to, err = channels.Normalize(n, to)
			if err != nil {
				t.Fatal(err)
			}
			local := h.app(appName, sample.Files, cfg, n, to)
			id := nextID()
			conv := channeltest.Start(tr, id, local)
			h.eng.ServeConversation(conv)
			s := h.session(id)
			if problem := channeltest.Check(tr, conv, s.EndReason); problem != "" {
				t.Fatalf("%s\napp log:\n%s", problem, logText(h.logs(id)))
			}
		})
	}
}
