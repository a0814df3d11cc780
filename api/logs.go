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

// Following (follow=1) reads the store, never a feed of lines that could
// overflow: the hub only signals that lines were written, and the handler
// pages through the store by line ID (AfterID) from the last line it sent.
// The backlog is paged the same way until caught up, so every line is sent
// once, in ID order, however slow the client or long the backlog.
var (
	followPage  = 1000                  // lines per store read
	followEvery = 50 * time.Millisecond // least time between two reads (each one flushes the store's queue)
	heartbeat   = 15 * time.Second      // a comment line after this much silence
)

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
	if q.Get("follow") == "1" || q.Get("follow") == "true" {
		a.follow(w, r, f)
		return
	}
	lines, err := a.s.cfg.Store.ListLogs(r.Context(), f) // sees queued lines
	if err != nil {
		a.s.internal(w, "list logs", err)
		return
	}
	out := make([]logJSON, 0, len(lines))
	for _, l := range lines {
		out = append(out, toLogJSON(l))
	}
	writeJSON(w, http.StatusOK, out)
}

// follow streams f's lines as Server-Sent Events: without since, the newest
// f.Limit lines; with since, every line from then on; after a Last-Event-ID
// (a reconnecting client), every line after it. Then each new line.
func (a logs) follow(w http.ResponseWriter, r *http.Request, f store.LogFilter) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "internal", "streaming is not supported here")
		return
	}
	ctx := r.Context()
	// Before the first read: a line written from now on signals wake.
	wake, stop := a.s.cfg.Logs.Notify(f)
	defer stop()

	var after int64 // ID of the last line sent
	if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > 0 {
		after = id
	}
	// next reads the lines after the last one sent. Until one is sent,
	// Since (from the epoch when not given) keeps ListLogs paging forward
	// rather than giving a tail.
	next := func() ([]store.LogLine, error) {
		p := f
		p.AfterID, p.Limit = after, followPage
		if after == 0 && p.Since.IsZero() {
			p.Since = time.Unix(0, 0)
		}
		return a.s.cfg.Store.ListLogs(ctx, p)
	}
	tail := after == 0 && f.Since.IsZero()
	var lines []store.LogLine
	var err error
	if tail {
		lines, err = a.s.cfg.Store.ListLogs(ctx, f) // the newest f.Limit lines
	} else {
		lines, err = next()
	}
	if err != nil {
		a.s.internal(w, "list logs", err)
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(lines []store.LogLine) bool {
		for _, l := range lines {
			b, _ := json.Marshal(toLogJSON(l))
			if _, err := fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", l.ID, b); err != nil {
				return false
			}
			after = l.ID
		}
		flusher.Flush()
		return true
	}
	// catchUp sends pages until a short one: the store has no more.
	catchUp := func(lines []store.LogLine, full bool) bool {
		for {
			if !send(lines) {
				return false
			}
			if !full {
				return true
			}
			var err error
			if lines, err = next(); err != nil {
				if ctx.Err() == nil {
					a.s.log.Error("api: follow logs", "err", err)
				}
				return false
			}
			full = len(lines) >= followPage
		}
	}
	// Lines written since the tail was read have signalled wake.
	if !catchUp(lines, !tail && len(lines) >= followPage) {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	lastRead := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if d := followEvery - time.Since(lastRead); d > 0 {
				select {
				case <-time.After(d): // lines written meanwhile come in the same read
				case <-ctx.Done():
					return
				}
			}
			lastRead = time.Now()
			lines, err := next()
			if err != nil {
				if ctx.Err() == nil {
					a.s.log.Error("api: follow logs", "err", err)
				}
				return
			}
			if !catchUp(lines, len(lines) >= followPage) {
				return
			}
			beat.Reset(heartbeat)
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
