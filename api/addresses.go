package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/store"
)

type addresses struct{ s *Server }

func (a addresses) Routes() chi.Router {
	r := chi.NewRouter()
	r.Post("/", a.create)
	r.Get("/", a.list)
	r.Delete("/{network}/{address}", a.delete)
	return r
}

type addressJSON struct {
	Network     string  `json:"network"`
	Address     string  `json:"address"`
	App         string  `json:"app"`
	AccountID   int64   `json:"account_id"`
	Route       string  `json:"route,omitempty"`
	Credentials string  `json:"credentials,omitempty"`
	State       string  `json:"state"`
	StateDetail string  `json:"state_detail,omitempty"`
	RetryAt     *string `json:"retry_at,omitempty"`
	CreatedAt   *string `json:"created_at"`
}

func (a addresses) toJSON(rec store.AddressRecord) addressJSON {
	st, detail, retry := a.s.cfg.States(rec.Network, rec.Address)
	out := addressJSON{Network: rec.Network, Address: rec.Address, App: rec.AppName, AccountID: rec.AccountID, Route: rec.Route,
		State: st, StateDetail: detail, RetryAt: ts(retry), CreatedAt: ts(rec.CreatedAt)}
	if len(rec.Credentials) > 0 {
		out.Credentials = "set"
	}
	return out
}

func (a addresses) create(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	var req struct {
		Network     string          `json:"network"`
		Address     string          `json:"address"`
		App         string          `json:"app"`
		Route       string          `json:"route"`
		Credentials json.RawMessage `json:"credentials"`
	}
	if !decode(w, r, 64<<10, &req) {
		return
	}
	n, err := channels.ParseNetwork(req.Network)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_network", err.Error())
		return
	}
	addr, err := channels.Normalize(n, req.Address)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_address", err.Error())
		return
	}
	if (n == channels.SMS || (n == channels.SIP && channels.IsNumber(channels.SIPUser(addr)))) &&
		acct.Role != store.RoleOperator && !isAdmin(acct) {
		fail(w, http.StatusForbidden, "forbidden", "phone numbers are bound by operators; ask yours to bind "+addr+" to your app")
		return
	}
	if req.App == "" {
		fail(w, http.StatusBadRequest, "bad_app", "\"app\" is required")
		return
	}
	app, err := a.s.cfg.Store.App(r.Context(), acct.ID, req.App)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "app "+strconv.Quote(req.App))
		return
	}
	if err != nil {
		a.s.internal(w, "look up app", err)
		return
	}
	var creds []byte
	if len(req.Credentials) > 0 && string(req.Credentials) != "null" {
		var obj map[string]any
		if json.Unmarshal(req.Credentials, &obj) != nil {
			fail(w, http.StatusBadRequest, "bad_credentials", "\"credentials\" must be a JSON object")
			return
		}
		creds = req.Credentials
	}
	rec, err := a.s.cfg.Store.AddAddress(r.Context(), store.AddressRecord{
		Network: string(n), Address: addr, AccountID: acct.ID, AppID: app.ID, AppName: app.Name, Route: req.Route, Credentials: creds,
	})
	if isConflict(err) {
		if cur, lerr := a.s.cfg.Store.Address(r.Context(), string(n), addr); lerr == nil && cur.AppID == app.ID {
			writeJSON(w, http.StatusOK, a.toJSON(cur)) // already bound to this app: nothing to do
			return
		}
		fail(w, http.StatusConflict, "taken", string(n)+" address "+addr+" is already bound to another app")
		return
	}
	if err != nil {
		a.s.internal(w, "bind address", err)
		return
	}
	rec.AppName = app.Name
	a.s.cfg.Engine.Invalidate()
	writeJSON(w, http.StatusCreated, a.toJSON(rec))
}

func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

func (a addresses) list(w http.ResponseWriter, r *http.Request) {
	recs, err := a.s.cfg.Store.ListAddresses(r.Context(), scope(AccountFrom(r.Context())))
	if err != nil {
		a.s.internal(w, "list addresses", err)
		return
	}
	out := make([]addressJSON, 0, len(recs))
	for _, rec := range recs {
		out = append(out, a.toJSON(rec))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a addresses) delete(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	n, err := channels.ParseNetwork(chi.URLParam(r, "network"))
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_network", err.Error())
		return
	}
	// chi matches on RawPath when the request has one (escaped slashes and
	// the like): the parameter is then still escaped.
	raw := chi.URLParam(r, "address")
	if r.URL.RawPath != "" {
		var err error
		if raw, err = url.PathUnescape(raw); err != nil {
			fail(w, http.StatusBadRequest, "bad_address", "the address must be URL-escaped")
			return
		}
	}
	addr, err := channels.Normalize(n, raw)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_address", err.Error())
		return
	}
	rec, err := a.s.cfg.Store.Address(r.Context(), string(n), addr)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sees(acct, rec.AccountID)) {
		notFound(w, string(n)+" address "+addr)
		return
	}
	if err != nil {
		a.s.internal(w, "look up address", err)
		return
	}
	if err := a.s.cfg.Store.DeleteAddress(r.Context(), string(n), addr); err != nil {
		a.s.internal(w, "release address", err)
		return
	}
	a.s.cfg.Engine.Invalidate()
	w.WriteHeader(http.StatusNoContent)
}
