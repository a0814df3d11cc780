package nwsfake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chorus-dev/chorus/apps/weather/nwsfake"
)

const ua = "(Chorus weather sample, https://github.com/chorus-dev/chorus)"

// get GETs url with the sample's headers (ua "" sends none) and decodes the
// JSON body. Redirects are not followed.
func get(t *testing.T, url, userAgent string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", userAgent) // "" suppresses Go's default
	req.Header.Set("Accept", "application/geo+json")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v\n%s", url, err, b)
	}
	return resp, doc
}

// path walks a decoded document: path(doc, "properties", "forecast").
func path(doc any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := doc.(map[string]any)
			doc = m[k]
		case int:
			a, _ := doc.([]any)
			if k >= len(a) {
				return nil
			}
			doc = a[k]
		}
	}
	return doc
}

func TestPointsAndForecastShapes(t *testing.T) {
	s := nwsfake.StartT(t, nwsfake.Options{})
	resp, pt := get(t, s.URL()+"/points/28.5399,-81.3727", ua)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" {
		t.Fatalf("points: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checks := map[string]any{
		"gridId":         "MLB",
		"gridX":          26.0,
		"gridY":          68.0,
		"forecast":       s.URL() + "/gridpoints/MLB/26,68/forecast",
		"forecastHourly": s.URL() + "/gridpoints/MLB/26,68/forecast/hourly",
		"timeZone":       "America/New_York",
	}
	for k, want := range checks {
		if got := path(pt, "properties", k); got != want {
			t.Errorf("properties.%s = %v, want %v", k, got, want)
		}
	}
	if city, state := path(pt, "properties", "relativeLocation", "properties", "city"), path(pt, "properties", "relativeLocation", "properties", "state"); city != "Orlando" || state != "FL" {
		t.Errorf("relativeLocation = %v, %v", city, state)
	}

	resp, fc := get(t, path(pt, "properties", "forecast").(string), ua)
	if resp.StatusCode != 200 {
		t.Fatalf("forecast: %d", resp.StatusCode)
	}
	periods, _ := path(fc, "properties", "periods").([]any)
	if len(periods) < 2 {
		t.Fatalf("periods: %v", periods)
	}
	for _, k := range []string{"number", "name", "startTime", "endTime", "isDaytime", "temperature", "temperatureUnit",
		"windSpeed", "windDirection", "shortForecast", "detailedForecast"} {
		if _, ok := periods[0].(map[string]any)[k]; !ok {
			t.Errorf("period has no %s", k)
		}
	}
	first := fmt.Sprintf("%v: %v, %v%v", path(periods, 0, "name"), path(periods, 0, "shortForecast"),
		path(periods, 0, "temperature"), path(periods, 0, "temperatureUnit"))
	if first != "This Afternoon: Sunny, 84F" {
		t.Errorf("first period = %q", first)
	}

	resp, hr := get(t, path(pt, "properties", "forecastHourly").(string), ua)
	if resp.StatusCode != 200 || path(hr, "properties", "periods", 0, "temperature") != 84.0 {
		t.Errorf("hourly: %d %v", resp.StatusCode, path(hr, "properties", "periods", 0))
	}

	c := s.Counts()
	if c.Requests != 3 || c.Points != 1 || c.Forecasts != 2 || c.Errors != 0 {
		t.Errorf("counts = %+v", c)
	}
	for _, r := range s.Requests() {
		if r.UserAgent != ua || r.Accept != "application/geo+json" || r.Status != 200 {
			t.Errorf("request log: %+v", r)
		}
	}
}

func TestUnknownCoveredPoint(t *testing.T) {
	s := nwsfake.StartT(t, nwsfake.Options{})
	resp, pt := get(t, s.URL()+"/points/39.7456,-97.0892", ua)
	if resp.StatusCode != 200 || path(pt, "properties", "gridId") != "TST" {
		t.Fatalf("%d %v", resp.StatusCode, path(pt, "properties"))
	}
	resp, _ = get(t, path(pt, "properties", "forecast").(string), ua)
	if resp.StatusCode != 200 {
		t.Fatalf("forecast %d", resp.StatusCode)
	}
}

// checkProblem checks an RFC 7807 answer.
func checkProblem(t *testing.T, resp *http.Response, doc map[string]any, status int, title, kind string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if doc["title"] != title || doc["type"] != "https://api.weather.gov/problems/"+kind || doc["status"] != float64(status) {
		t.Errorf("problem = %v", doc)
	}
	for _, k := range []string{"correlationId", "detail", "instance"} {
		if s, _ := doc[k].(string); s == "" {
			t.Errorf("problem has no %s: %v", k, doc)
		}
	}
}

func TestErrors(t *testing.T) {
	s := nwsfake.StartT(t, nwsfake.Options{})
	tests := []struct {
		name, path, ua string
		status         int
		title, kind    string
	}{
		{"no user agent", "/points/28.5399,-81.3727", "", 403, "Forbidden", "Forbidden"},
		{"go default user agent", "/points/28.5399,-81.3727", "Go-http-client/1.1", 403, "Forbidden", "Forbidden"},
		{"abroad (APO AE)", "/points/49.4077,8.6908", ua, 404, "Data Unavailable For Requested Point", "InvalidPoint"},
		{"ocean", "/points/30,-40", ua, 404, "Data Unavailable For Requested Point", "InvalidPoint"},
		{"malformed", "/points/abc,def", ua, 400, "Invalid Parameter", "InvalidParameter"},
		{"out of range", "/points/95,10", ua, 400, "Invalid Parameter", "InvalidParameter"},
		{"unknown path", "/nothing", ua, 404, "Not Found", "NotFound"},
		{"five decimals", "/points/28.53991,-81.37269", ua, 301, "Adjusting Precision Of Point Coordinate", "AdjustPointPrecision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, doc := get(t, s.URL()+tt.path, tt.ua)
			checkProblem(t, resp, doc, tt.status, tt.title, tt.kind)
		})
	}
	resp, _ := get(t, s.URL()+"/points/28.53991,-81.37269", ua)
	if loc := resp.Header.Get("Location"); loc != "/points/28.5399,-81.3727" {
		t.Errorf("Location = %q", loc)
	}
}

func TestFailOnce500(t *testing.T) {
	s := nwsfake.StartT(t, nwsfake.Options{Mode: nwsfake.FailOnce500})
	resp, doc := get(t, s.URL()+"/points/28.5399,-81.3727", ua)
	checkProblem(t, resp, doc, 500, "Unexpected Problem", "UnexpectedProblem")
	resp, pt := get(t, s.URL()+"/points/28.5399,-81.3727", ua)
	if resp.StatusCode != 200 {
		t.Fatalf("second /points: %d", resp.StatusCode)
	}
	if resp, _ := get(t, path(pt, "properties", "forecast").(string), ua); resp.StatusCode != 200 {
		t.Fatalf("forecast: %d", resp.StatusCode)
	}
	if c := s.Counts(); c.Points != 2 || c.Errors != 1 {
		t.Errorf("counts = %+v", c)
	}
}

func TestDownAndForecastDown(t *testing.T) {
	s := nwsfake.StartT(t, nwsfake.Options{Mode: nwsfake.Down})
	for i := 0; i < 3; i++ {
		resp, doc := get(t, s.URL()+"/points/28.5399,-81.3727", ua)
		checkProblem(t, resp, doc, 503, "Unavailable Resource", "UnavailableWebService")
	}
	s.SetMode(nwsfake.ForecastDown)
	resp, pt := get(t, s.URL()+"/points/28.5399,-81.3727", ua)
	if resp.StatusCode != 200 {
		t.Fatalf("points in forecastdown: %d", resp.StatusCode)
	}
	resp, doc := get(t, path(pt, "properties", "forecast").(string), ua)
	checkProblem(t, resp, doc, 503, "Unavailable Resource", "UnavailableWebService")
	if c := s.Counts(); c.Requests != 5 || c.Errors != 4 {
		t.Errorf("counts = %+v", c)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range nwsfake.Modes {
		got, err := nwsfake.ParseMode(" " + strings.ToUpper(string(m)) + " ")
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if m, err := nwsfake.ParseMode(""); err != nil || m != nwsfake.Normal {
		t.Errorf("ParseMode(\"\") = %q, %v", m, err)
	}
	if _, err := nwsfake.ParseMode("flaky"); err == nil {
		t.Error("ParseMode(flaky): no error")
	}
	if _, err := nwsfake.Start(nwsfake.Options{Mode: "flaky"}); err == nil {
		t.Error("Start with a bad mode: no error")
	}
}

func ExampleStart() {
	s, err := nwsfake.Start(nwsfake.Options{Mode: nwsfake.FailOnce500})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	// Give the app config NWS_BASE_URL = s.URL(), run it, then:
	fmt.Println(strings.HasPrefix(s.URL(), "http://127.0.0.1:"), s.Counts().Requests)
	// Output: true 0
}
