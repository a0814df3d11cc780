package main

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-dev/chorus/apps/weather/nwsfake"
)

// TestChatPageInChromium: a person opens the weather app's chat page in a
// real browser (Debian's chromium driven by playwright-core; `make
// test-deps` installs both), asks, and reads the forecast.
func TestChatPageInChromium(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is missing: run `make test-deps`")
	}
	script, _ := filepath.Abs("../../e2e/chat.mjs")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "playwright-core")); err != nil {
		t.Fatal("e2e/node_modules/playwright-core is missing: run `make test-deps`")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		t.Fatal("chromium is missing: run `make test-deps`")
	}
	nws := nwsfake.StartT(t, nwsfake.Options{})
	u, _ := url.Parse(nws.URL())
	fc := &fileConfig{}
	fc.Lua.HTTPAllow = []string{u.Host}
	ts := startTestServer(t, fc)
	expect(t, "config", ts.json("PUT", "/v1/apps/weather/config", ts.admin, map[string]string{"NWS_BASE_URL": nws.URL()}), 200)

	shot := filepath.Join(t.TempDir(), "chat.png")
	if d := os.Getenv("CHORUS_SCREENSHOT_DIR"); d != "" {
		shot = filepath.Join(d, "chat.png")
	}
	cmd := exec.Command(node, script, ts.url+"/chat/weather", "hi=ZIP code", "32801=Orlando, FL: This Afternoon: Sunny")
	cmd.Env = append(os.Environ(), "SCREENSHOT="+shot)
	out, err := cmd.Output()
	var res struct {
		Status int
		Title  string
		Error  string
		Turns  []struct {
			Sent    string
			Replies []string
		}
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil || err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	if res.Title != "Chat with weather" || len(res.Turns) != 2 {
		t.Fatalf("page: %+v", res)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
		t.Fatalf("no screenshot: %v", err)
	}
	// The page's conversation is a real session of the weather app.
	var list []map[string]any
	ts.do("GET", "/v1/sessions?app=weather", ts.admin, "", nil).json(t, &list)
	if len(list) == 0 || !strings.HasPrefix(list[0]["caller"].(string), "web-") {
		t.Fatalf("sessions %v", list)
	}
	// An unknown address is a 404 page.
	r := ts.do("GET", "/chat/nobody", "", "", nil)
	if r.Status != 404 {
		t.Fatalf("unknown chat page: %d", r.Status)
	}
}
