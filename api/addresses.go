package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

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
	var obj map[string]any
	if len(req.Credentials) > 0 && string(req.Credentials) != "null" {
		if json.Unmarshal(req.Credentials, &obj) != nil || obj == nil {
			fail(w, http.StatusBadRequest, "bad_credentials", "\"credentials\" must be a JSON object")
			return
		}
		creds = req.Credentials
	}
	if creds == nil {
		// Bound to this app already: binding again without credentials
		// keeps the ones it has.
		if cur, err := a.s.cfg.Store.Address(r.Context(), string(n), addr); err == nil && cur.AppID == app.ID && len(cur.Credentials) > 0 {
			if json.Unmarshal(cur.Credentials, &obj) == nil {
				creds = cur.Credentials
			}
		}
	}
	if err := checkExtras(n, req.Route, obj); err != nil {
		fail(w, http.StatusBadRequest, "bad_address", err.Error())
		return
	}
	if a.s.cfg.Check != nil {
		if err := a.s.cfg.Check(string(n), addr, req.Route, obj); err != nil {
			fail(w, http.StatusUnprocessableEntity, "unusable_address", err.Error())
			return
		}
	}
	rec, err := a.s.cfg.Store.AddAddress(r.Context(), store.AddressRecord{
		Network: string(n), Address: addr, AccountID: acct.ID, AppID: app.ID, AppName: app.Name, Route: req.Route, Credentials: creds,
	})
	if isConflict(err) {
		if cur, lerr := a.s.cfg.Store.Address(r.Context(), string(n), addr); lerr == nil && cur.AppID == app.ID {
			if cur.Route == req.Route && (creds == nil || sameJSON(cur.Credentials, creds)) {
				writeJSON(w, http.StatusOK, a.toJSON(cur)) // already bound so: nothing to do
				return
			}
			// Bound to this app with other credentials or another route
			// (a changed password, a number moved to another SMSC): take
			// the new ones (credentials left out were filled in above).
			if err := a.s.cfg.Store.DeleteAddress(r.Context(), string(n), addr); err != nil {
				a.s.internal(w, "rebind address", err)
				return
			}
			rec, err = a.s.cfg.Store.AddAddress(r.Context(), store.AddressRecord{
				Network: string(n), Address: addr, AccountID: acct.ID, AppID: app.ID, AppName: app.Name, Route: req.Route, Credentials: creds,
			})
			if err != nil {
				a.s.internal(w, "rebind address", err)
				return
			}
			rec.AppName = app.Name
			a.s.changed(true)
			writeJSON(w, http.StatusOK, a.toJSON(rec))
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
	a.s.changed(true)
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
	a.s.changed(true)
	w.WriteHeader(http.StatusNoContent)
}

// credentialKeys are the credential shapes of spec/config.md, per network:
// each inner list is one accepted set of required keys; optional keys are
// listed apart.
var credentialKeys = map[channels.Network]struct {
	sets     [][]string
	optional []string
}{
	channels.XMPP:     {sets: [][]string{{"password"}}, optional: []string{"server"}},
	channels.Twitter:  {sets: [][]string{{"consumer_key", "consumer_secret", "access_token", "access_secret"}, {"bearer_token"}}},
	channels.Mastodon: {sets: [][]string{{"server", "access_token"}}},
}

// checkExtras checks the per-network fields of an address: the SMS route
// and the shape of the credentials (never their values in an error).
func checkExtras(n channels.Network, route string, creds map[string]any) error {
	if n == channels.SMS && route == "" {
		return errors.New(`an sms address needs "route": the name of an sms.smpp or sms.http route of the server's config`)
	}
	if n != channels.SMS && route != "" {
		return fmt.Errorf(`"route" applies to sms addresses only, not %s`, n)
	}
	if creds == nil {
		if n == channels.Twitter || n == channels.Mastodon {
			return fmt.Errorf(`a %s address needs "credentials" (see the config reference)`, n)
		}
		return nil // xmpp: Check knows the component domains
	}
	shape, ok := credentialKeys[n]
	if !ok {
		return fmt.Errorf(`%s addresses take no "credentials"`, n)
	}
	for k, v := range creds {
		if _, isString := v.(string); !isString {
			return fmt.Errorf(`credentials.%s must be a string`, k)
		}
	}
	var allowed []string
	for _, set := range shape.sets {
		allowed = append(allowed, set...)
	}
	allowed = append(allowed, shape.optional...)
	for k := range creds {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf(`credentials.%s is not a %s credential (want %s)`, k, n, strings.Join(allowed, ", "))
		}
	}
	for _, set := range shape.sets {
		complete := true
		for _, k := range set {
			if v, _ := creds[k].(string); v == "" {
				complete = false
			}
		}
		if complete {
			return nil
		}
	}
	var want []string
	for _, set := range shape.sets {
		want = append(want, "{"+strings.Join(set, ", ")+"}")
	}
	return fmt.Errorf("%s credentials need %s", n, strings.Join(want, " or "))
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
