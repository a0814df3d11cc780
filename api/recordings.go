package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/chorus-dev/chorus/store"
)

type recordings struct{ s *Server }

func (a recordings) Routes() chi.Router {
	r := chi.NewRouter()
	r.Get("/{id}", a.get)
	return r
}

// get serves a call recording as audio/wav to its owner (and the admin).
func (a recordings) get(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	id := chi.URLParam(r, "id")
	rec, err := a.s.cfg.Store.Recording(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sees(acct, rec.AccountID)) {
		notFound(w, "recording "+id)
		return
	}
	if err != nil {
		a.s.internal(w, "load recording", err)
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(rec.WAV)))
	w.Header().Set("Content-Disposition", `inline; filename="`+rec.ID+`.wav"`)
	w.Header().Set("X-Chorus-Session", rec.SessionID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(rec.WAV)
}
