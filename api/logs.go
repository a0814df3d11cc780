package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/chorus-dev/chorus/store"
)

type logs struct{ s *Server }

func (a logs) Routes() chi.Router {
	r := chi.NewRouter()
	r.Get("/", a.get)
	return r
}

type logJSON struct {
	At      string `json:"at"`
	App     string `json:"app"`
	Session string `json:"session,omitempty"`
	Level   string `json:"level"`
	Text    string `json:"text"`
}

func toLogJSON(l store.LogLine) logJSON {
	return logJSON{At: l.At.UTC().Format(time.RFC3339Nano), App: l.App, Session: l.Session, Level: l.Level, Text: l.Text}
}

// parseSince accepts RFC 3339 or a duration back from now ("5m").
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since %q: want RFC 3339 (2026-11-22T10:00:00Z) or a duration (15m)", s)
}

func (a logs) get(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"))
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_since", err.Error())
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	f := store.LogFilter{AccountID: scope(acct), App: q.Get("app"), Session: q.Get("session"), Since: since, Limit: limit}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	var cancel func()
	var live <-chan store.LogLine
	if follow {
		s, c := a.s.cfg.Logs.Subscribe(f)
		live, cancel = s.C, c
		defer cancel()
	}
	if err := a.s.cfg.Store.Sync(r.Context()); err != nil {
		a.s.internal(w, "sync logs", err)
		return
	}
	lines, err := a.s.cfg.Store.ListLogs(r.Context(), f)
	if err != nil {
		a.s.internal(w, "list logs", err)
		return
	}
	if !follow {
		out := make([]logJSON, 0, len(lines))
		for _, l := range lines {
			out = append(out, toLogJSON(l))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "internal", "streaming is not supported here")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var last time.Time
	send := func(l store.LogLine) bool {
		b, _ := json.Marshal(toLogJSON(l))
		_, err := fmt.Fprintf(w, "event: log\ndata: %s\n\n", b)
		return err == nil
	}
	for _, l := range lines {
		if !send(l) {
			return
		}
		last = l.At
	}
	flusher.Flush()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case l := <-live:
			if !l.At.After(last) {
				continue // already sent from the backlog
			}
			if !send(l) {
				return
			}
			flusher.Flush()
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
