package api

import (
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/store"
)

type sessions struct{ s *Server }

func (a sessions) Routes() chi.Router {
	r := chi.NewRouter()
	r.Post("/", a.launch)
	r.Get("/", a.list)
	r.Get("/{id}", a.get)
	r.Delete("/{id}", a.delete)
	return r
}

type sessionJSON struct {
	ID         string                  `json:"id"`
	App        string                  `json:"app"`
	Version    int                     `json:"version"`
	Network    string                  `json:"network"`
	Caller     string                  `json:"caller"`
	Called     string                  `json:"called"`
	State      string                  `json:"state"`
	StartedAt  *string                 `json:"started_at"`
	EndedAt    *string                 `json:"ended_at"`
	EndReason  string                  `json:"end_reason,omitempty"`
	Params     map[string]any          `json:"params,omitempty"`
	Transcript []store.TranscriptEntry `json:"transcript,omitempty"`
}

func toSessionJSON(s store.Session, withTranscript bool) sessionJSON {
	out := sessionJSON{ID: s.ID, App: s.AppName, Version: s.Version, Network: s.Network, Caller: s.Caller, Called: s.Called,
		State: s.State, StartedAt: ts(s.StartedAt), EndedAt: ts(s.EndedAt), EndReason: s.EndReason, Params: s.Params}
	if withTranscript {
		out.Transcript = s.Transcript
		if out.Transcript == nil {
			out.Transcript = []store.TranscriptEntry{}
		}
	}
	return out
}

func (a sessions) launch(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	var req struct {
		App    string         `json:"app"`
		Params map[string]any `json:"params"`
	}
	if !decode(w, r, 256<<10, &req) {
		return
	}
	if req.App == "" {
		fail(w, http.StatusBadRequest, "bad_app", "\"app\" is required")
		return
	}
	id, err := a.s.cfg.Engine.Launch(r.Context(), acct.ID, req.App, req.Params)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "app "+strconv.Quote(req.App))
		return
	}
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, "cannot_start", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (a sessions) list(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	f := store.SessionFilter{AccountID: scope(acct), App: q.Get("app"), Limit: limit}
	state := q.Get("state")
	switch state {
	case "", "running", "waiting", "ended":
	default:
		fail(w, http.StatusBadRequest, "bad_state", "state is running, waiting or ended")
		return
	}
	if err := a.s.cfg.Store.Sync(r.Context()); err != nil {
		a.s.internal(w, "sync sessions", err)
		return
	}
	if state == "ended" {
		f.State = "ended"
	}
	rows, err := a.s.cfg.Store.ListSessions(r.Context(), f)
	if err != nil {
		a.s.internal(w, "list sessions", err)
		return
	}
	live := map[string]store.Session{}
	for _, s := range a.s.cfg.Engine.LiveSessions(scope(acct)) {
		live[s.ID] = s
	}
	var picked []store.Session
	seen := map[string]bool{}
	add := func(s store.Session) {
		if seen[s.ID] || (f.App != "" && s.AppName != f.App) || (state != "" && s.State != state) {
			return
		}
		seen[s.ID] = true
		picked = append(picked, s)
	}
	for _, s := range live {
		add(s)
	}
	for _, s := range rows {
		if l, ok := live[s.ID]; ok {
			s = l
		}
		add(s)
	}
	sort.SliceStable(picked, func(i, j int) bool { return picked[i].StartedAt.After(picked[j].StartedAt) })
	if len(picked) > limit {
		picked = picked[:limit]
	}
	out := make([]sessionJSON, 0, len(picked))
	for _, s := range picked {
		out = append(out, toSessionJSON(s, false))
	}
	writeJSON(w, http.StatusOK, out)
}

// find returns the session if the caller may see it.
func (a sessions) find(w http.ResponseWriter, r *http.Request) (store.Session, bool, bool) {
	acct := AccountFrom(r.Context())
	id := chi.URLParam(r, "id")
	if s, ok := a.s.cfg.Engine.Live(id); ok {
		if !sees(acct, s.AccountID) {
			notFound(w, "session "+id)
			return s, false, false
		}
		return s, true, true
	}
	if err := a.s.cfg.Store.Sync(r.Context()); err != nil {
		a.s.internal(w, "sync sessions", err)
		return store.Session{}, false, false
	}
	s, err := a.s.cfg.Store.Session(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sees(acct, s.AccountID)) {
		notFound(w, "session "+id)
		return s, false, false
	}
	if err != nil {
		a.s.internal(w, "load session", err)
		return s, false, false
	}
	return s, false, true
}

func (a sessions) get(w http.ResponseWriter, r *http.Request) {
	s, _, ok := a.find(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, toSessionJSON(s, true))
}

func (a sessions) delete(w http.ResponseWriter, r *http.Request) {
	s, live, ok := a.find(w, r)
	if !ok {
		return
	}
	if !live || !a.s.cfg.Engine.End(s.ID, engine.ErrEndedByAPI) {
		fail(w, http.StatusConflict, "ended", "session "+s.ID+" has already ended")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
