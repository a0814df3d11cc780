package nwsfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mode chooses how the fake fails on purpose.
type Mode string

// The modes. Their values are the names transcripts use ("nws: 500once").
const (
	Normal       Mode = "normal"       // every request answers normally
	FailOnce500  Mode = "500once"      // the first /points request gets 500, the rest are normal
	Down         Mode = "down"         // every request gets 503
	ForecastDown Mode = "forecastdown" // /points answers, every forecast request gets 503
)

// Modes lists every mode.
var Modes = []Mode{Normal, FailOnce500, Down, ForecastDown}

// ParseMode reads a mode name; "" is Normal.
func ParseMode(s string) (Mode, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Normal, nil
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("nwsfake: unknown mode %q (want normal, 500once, down or forecastdown)", s)
}

// Options configure a fake. The zero value is a normal fake on 127.0.0.1:0.
type Options struct {
	// Addr is the address to listen on; default "127.0.0.1:0".
	Addr string
	// Mode is the starting mode; default Normal.
	Mode Mode
	// Periods are the forecast periods served for every gridpoint; default
	// DefaultPeriods().
	Periods []Period
	// Delay holds each answer back this long (or until the client gives
	// up), to test clients' timeouts.
	Delay time.Duration
}

// Request is one request the fake answered.
type Request struct {
	Method    string
	Path      string
	UserAgent string
	Accept    string
	Status    int
}

// Counts are request counters.
type Counts struct {
	Requests  int // every request
	Points    int // requests to /points/...
	Forecasts int // requests to /gridpoints/.../forecast and .../forecast/hourly
	Errors    int // answers with a status >= 400
}

// Server is a running fake.
type Server struct {
	url     string
	srv     *http.Server
	done    chan struct{}
	periods []Period
	delay   time.Duration

	mu       sync.Mutex
	mode     Mode
	failed   bool // FailOnce500 has failed its one request
	seq      int
	counts   Counts
	requests []Request
}

// Start starts a fake and returns once it is listening.
func Start(opts Options) (*Server, error) {
	mode := opts.Mode
	if mode == "" {
		mode = Normal
	}
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nwsfake: %w", err)
	}
	s := &Server{
		url:     "http://" + ln.Addr().String(),
		done:    make(chan struct{}),
		periods: opts.Periods,
		delay:   opts.Delay,
		mode:    mode,
	}
	if s.periods == nil {
		s.periods = DefaultPeriods()
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// StartT starts a fake for a test and closes it when the test ends.
func StartT(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// URL is the fake's base URL ("http://127.0.0.1:PORT"), the value for the
// weather app's NWS_BASE_URL.
func (s *Server) URL() string { return s.url }

// Close stops the fake and waits for it.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// SetMode changes the mode; FailOnce500 fails once more after it is set.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
	s.failed = false
}

// Counts returns the request counters.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Requests returns every request answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// answer is what one request gets.
type answer struct {
	status      int
	contentType string
	location    string
	body        any
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("%08x", s.seq)
	a := s.route(r, id)
	s.count(r, a.status)
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Correlation-Id", id)
	h.Set("X-Request-Id", id)
	if a.location != "" {
		h.Set("Location", a.location)
	}
	if a.status == http.StatusOK {
		h.Set("Cache-Control", "public, max-age=3600")
	}
	body, err := json.MarshalIndent(a.body, "", "    ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(body)
}

func (s *Server) count(r *http.Request, status int) {
	s.counts.Requests++
	switch {
	case strings.HasPrefix(r.URL.Path, "/points/"):
		s.counts.Points++
	case strings.HasPrefix(r.URL.Path, "/gridpoints/") && strings.Contains(r.URL.Path, "/forecast"):
		s.counts.Forecasts++
	}
	if status >= 400 {
		s.counts.Errors++
	}
	s.requests = append(s.requests, Request{
		Method:    r.Method,
		Path:      r.URL.Path,
		UserAgent: r.UserAgent(),
		Accept:    r.Header.Get("Accept"),
		Status:    status,
	})
}

var (
	pointPath    = regexp.MustCompile(`^/points/([^/]*)$`)
	pointValue   = regexp.MustCompile(`^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$`)
	forecastPath = regexp.MustCompile(`^/gridpoints/([A-Z]{3})/(\d+),(\d+)/forecast(/hourly)?$`)
)

// route decides the answer; s.mu is held.
func (s *Server) route(r *http.Request, id string) answer {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return s.problem(id, r.URL.Path, http.StatusMethodNotAllowed, "Method Not Allowed", "MethodNotAllowed",
			"Only GET is supported.")
	}
	ua := r.UserAgent()
	if ua == "" || strings.HasPrefix(ua, "Go-http-client/") {
		return s.problem(id, r.URL.Path, http.StatusForbidden, "Forbidden", "Forbidden",
			"A User-Agent header that identifies your application is required (e.g. \"(myweatherapp.com, contact@myweatherapp.com)\").")
	}
	isPoints := strings.HasPrefix(r.URL.Path, "/points/")
	switch {
	case s.mode == Down:
		return s.unavailable(id, r.URL.Path)
	case s.mode == FailOnce500 && isPoints && !s.failed:
		s.failed = true
		return s.problem(id, r.URL.Path, http.StatusInternalServerError, "Unexpected Problem", "UnexpectedProblem",
			"An unexpected problem has occurred.")
	}
	if m := pointPath.FindStringSubmatch(r.URL.Path); m != nil {
		return s.points(id, r.URL.Path, m[1])
	}
	if m := forecastPath.FindStringSubmatch(r.URL.Path); m != nil {
		if s.mode == ForecastDown {
			return s.unavailable(id, r.URL.Path)
		}
		return s.forecast(m[4] != "")
	}
	return s.problem(id, r.URL.Path, http.StatusNotFound, "Not Found", "NotFound",
		fmt.Sprintf("'%s' is not a valid resource path", r.URL.Path))
}

func (s *Server) unavailable(id, path string) answer {
	return s.problem(id, path, http.StatusServiceUnavailable, "Unavailable Resource", "UnavailableWebService",
		"The resource you requested is currently unavailable. Please try again later.")
}

// problem builds an RFC 7807 answer as api.weather.gov shapes them.
func (s *Server) problem(id, path string, status int, title, kind, detail string) answer {
	return answer{
		status:      status,
		contentType: "application/problem+json",
		body: Problem{
			CorrelationID: id,
			Title:         title,
			Type:          "https://api.weather.gov/problems/" + kind,
			Status:        status,
			Detail:        detail,
			Instance:      s.url + "/requests/" + id,
		},
	}
}

// Problem is an api.weather.gov error document (RFC 7807).
type Problem struct {
	CorrelationID   string           `json:"correlationId"`
	ParameterErrors []ParameterError `json:"parameterErrors,omitempty"`
	Title           string           `json:"title"`
	Type            string           `json:"type"`
	Status          int              `json:"status"`
	Detail          string           `json:"detail"`
	Instance        string           `json:"instance"`
}

// ParameterError names one bad parameter of a 400 answer.
type ParameterError struct {
	Parameter string `json:"parameter"`
	Message   string `json:"message"`
}

// canonical formats a coordinate as the API names it: at most 4 decimals,
// no trailing zeros.
func canonical(v float64) string {
	v = math.Round(v*1e4) / 1e4
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func decimals(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

func (s *Server) points(id, path, raw string) answer {
	m := pointValue.FindStringSubmatch(raw)
	var lat, lon float64
	var err1, err2 error
	if m != nil {
		lat, err1 = strconv.ParseFloat(m[1], 64)
		lon, err2 = strconv.ParseFloat(m[2], 64)
	}
	if m == nil || err1 != nil || err2 != nil || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		a := s.problem(id, path, http.StatusBadRequest, "Invalid Parameter", "InvalidParameter",
			fmt.Sprintf("Parameter \"point\" is invalid: '%s' is not a latitude,longitude pair within range", raw))
		p := a.body.(Problem)
		p.ParameterErrors = []ParameterError{{Parameter: "path.point", Message: "must be latitude,longitude in decimal degrees"}}
		a.body = p
		return a
	}
	if decimals(m[1]) > 4 || decimals(m[2]) > 4 {
		a := s.problem(id, path, http.StatusMovedPermanently, "Adjusting Precision Of Point Coordinate", "AdjustPointPrecision",
			"The precision of latitude/longitude points is limited to 4 decimal digits for efficiency. The location attribute contains your request mapped to the nearest supported point. If your client supports it, you will be redirected.")
		a.location = "/points/" + canonical(lat) + "," + canonical(lon)
		return a
	}
	if !covered(lat, lon) {
		return s.problem(id, path, http.StatusNotFound, "Data Unavailable For Requested Point", "InvalidPoint",
			fmt.Sprintf("Unable to provide data for requested point %s,%s", canonical(lat), canonical(lon)))
	}
	return answer{status: http.StatusOK, contentType: "application/geo+json", body: s.pointDoc(lat, lon)}
}

func (s *Server) forecast(hourly bool) answer {
	periods := s.periods
	if hourly {
		periods = hourlyPeriods(s.periods)
	}
	return answer{status: http.StatusOK, contentType: "application/geo+json", body: forecastDoc(periods)}
}

// pointDoc is the /points answer for a covered point.
func (s *Server) pointDoc(lat, lon float64) map[string]any {
	p := lookupPoint(lat, lon)
	key := canonical(lat) + "," + canonical(lon)
	grid := fmt.Sprintf("%s/gridpoints/%s/%d,%d", s.url, p.Office, p.GridX, p.GridY)
	return map[string]any{
		"@context": ldContext(),
		"id":       s.url + "/points/" + key,
		"type":     "Feature",
		"geometry": map[string]any{"type": "Point", "coordinates": []float64{lon, lat}},
		"properties": map[string]any{
			"@id":                 s.url + "/points/" + key,
			"@type":               "wx:Point",
			"cwa":                 p.Office,
			"forecastOffice":      s.url + "/offices/" + p.Office,
			"gridId":              p.Office,
			"gridX":               p.GridX,
			"gridY":               p.GridY,
			"forecast":            grid + "/forecast",
			"forecastHourly":      grid + "/forecast/hourly",
			"forecastGridData":    grid,
			"observationStations": grid + "/stations",
			"relativeLocation": map[string]any{
				"type":     "Feature",
				"geometry": map[string]any{"type": "Point", "coordinates": []float64{lon, lat}},
				"properties": map[string]any{
					"city":     p.City,
					"state":    p.State,
					"distance": map[string]any{"unitCode": "wmoUnit:m", "value": 1234.5},
					"bearing":  map[string]any{"unitCode": "wmoUnit:degree_(angle)", "value": 90},
				},
			},
			"forecastZone":    s.url + "/zones/forecast/" + p.Zone,
			"county":          s.url + "/zones/county/" + p.County,
			"fireWeatherZone": s.url + "/zones/fire/" + p.Zone,
			"timeZone":        p.TimeZone,
			"radarStation":    p.Radar,
		},
	}
}

func ldContext() []any {
	return []any{
		"https://geojson.org/geojson-ld/geojson-context.jsonld",
		map[string]any{
			"@version": "1.1",
			"wx":       "https://api.weather.gov/ontology#",
			"@vocab":   "https://api.weather.gov/ontology#",
		},
	}
}
