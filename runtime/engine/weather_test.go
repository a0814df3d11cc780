package engine_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chorus-dev/chorus/apps"
	"github.com/chorus-dev/chorus/apps/weather/nwsfake"
	"github.com/chorus-dev/chorus/channels"
)

// weatherReply texts 32801 to the weather app, on the real engine, in front
// of a fake NWS serving periods, and returns the one reply.
func weatherReply(t *testing.T, periods []nwsfake.Period) string {
	t.Helper()
	fake := nwsfake.StartT(t, nwsfake.Options{Periods: periods})
	w, err := apps.Get("weather")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{HTTPAllow: []string{"127.0.0.1:*"}})
	a := h.app("weather", w.Files, map[string]string{"NWS_BASE_URL": fake.URL()}, channels.SMS, "+14075550100")
	c, s := h.chat(a, "32801")
	r := replies(c)
	if len(r) != 1 || s.EndReason != "completed" {
		t.Fatalf("replies %q, end %q, log:\n%s", r, s.EndReason, logText(h.logs(s.ID)))
	}
	return r[0]
}

func TestWeatherReplyWording(t *testing.T) {
	p := nwsfake.DefaultPeriods()
	long := strings.Repeat("Very ", 60) + "Windy"

	onlyFirst := append([]nwsfake.Period(nil), p[:2]...)
	onlyFirst[1].ShortForecast = long
	huge := append([]nwsfake.Period(nil), p[:2]...)
	huge[0].ShortForecast = strings.Repeat("é", 200) // the cut falls inside an é
	celsius := append([]nwsfake.Period(nil), p[:1]...)
	celsius[0].Temperature, celsius[0].TemperatureUnit = 29, "C"

	tests := []struct {
		name    string
		periods []nwsfake.Period
		want    string
	}{
		{"default", p, "Orlando, FL: This Afternoon: Sunny, 84°F. Tonight: Mostly Clear, 68°F."},
		{"second period too long", onlyFirst, "Orlando, FL: This Afternoon: Sunny, 84°F."},
		{"one period, celsius", celsius, "Orlando, FL: This Afternoon: Sunny, 29°C."},
		{"no periods", []nwsfake.Period{}, "Orlando, FL: Sorry, I can't reach the National Weather Service right now. Please try again in a few minutes."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := weatherReply(t, tt.periods); got != tt.want {
				t.Errorf("reply = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("cut", func(t *testing.T) {
		got := weatherReply(t, huge)
		if len(got) > 299 || !utf8.ValidString(got) || !strings.HasPrefix(got, "Orlando, FL: This Afternoon: éé") ||
			!strings.HasSuffix(got, "...") {
			t.Errorf("reply (%d bytes) = %q", len(got), got)
		}
	})
}
