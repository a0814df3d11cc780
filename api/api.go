package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/internal/httpjson"
	"github.com/chorus-dev/chorus/runtime/applog"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/store"
)

//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns the OpenAPI document.
func OpenAPI() []byte { return openapiDoc }

// WebChannel is what the API needs of the web channel.
type WebChannel interface {
	HandleMessage(w http.ResponseWriter, r *http.Request)
	HandleWS(w http.ResponseWriter, r *http.Request)
	HandlePage(w http.ResponseWriter, r *http.Request)
}

// AddressState reports an address's live state: connected, connecting,
// failed, rate_limited or disabled, why, and when it is retried.
type AddressState func(network, address string) (state, detail string, retryAt time.Time)

// AddressCheck refuses an address the server cannot serve as given (an SMS
// route that is not configured, an XMPP JID without credentials outside
// the component domains...). The API has checked the shape of the
// credentials already. The error's text is shown to the client.
type AddressCheck func(network, address, route string, creds map[string]any) error

// Config configures the API.
type Config struct {
	Store  store.Store
	Engine *engine.Engine
	Logs   *applog.Hub
	Web    WebChannel
	// States reports address states (nil: web addresses are connected,
	// others disabled).
	States AddressState
	// Check, when set, refuses addresses the channels cannot serve.
	Check AddressCheck
	// AddressesChanged, when set, is called after addresses were bound or
	// released (directly or with their app), so channels that hold
	// connections per address (XMPP accounts, SMS numbers) reconcile.
	AddressesChanged func()
	// Webhooks are mounted without authentication (they check their own
	// signatures): path -> handler, e.g. an SMS provider's inbound webhook.
	Webhooks map[string]http.Handler
	// Ready reports readiness for /healthz (nil: always ready).
	Ready  func() bool
	Logger *slog.Logger
}

// Server is the REST API.
type Server struct {
	cfg  Config
	log  *slog.Logger
	keys keyCache
}

// New returns the API.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Engine == nil || cfg.Logs == nil || cfg.Web == nil {
		return nil, errors.New("api: Store, Engine, Logs and Web are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for path := range cfg.Webhooks {
		if err := checkWebhookPath(path); err != nil {
			return nil, err
		}
	}
	if cfg.States == nil {
		cfg.States = func(network, _ string) (string, string, time.Time) {
			if network == string(channels.Web) {
				return "connected", "", time.Time{}
			}
			return "disabled", "the " + network + " channel is not configured on this server", time.Time{}
		}
	}
	return &Server{cfg: cfg, log: cfg.Logger, keys: keyCache{m: map[string]cachedKey{}}}, nil
}

// Handler returns the whole HTTP handler.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
	})
	r.Get("/healthz", s.healthz)
	for path, h := range s.cfg.Webhooks {
		r.Handle(path, h)
	}
	r.Get("/chat/{address}", s.cfg.Web.HandlePage)
	r.Route("/v1", func(r chi.Router) {
		r.Get("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openapiDoc)
		})
		r.Post("/web/{address}/messages", s.cfg.Web.HandleMessage)
		r.Get("/web/{address}/ws", s.cfg.Web.HandleWS)
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Mount("/accounts", accounts{s}.Routes())
			r.Mount("/apps", apps{s}.Routes())
			r.Mount("/addresses", addresses{s}.Routes())
			r.Mount("/sessions", sessions{s}.Routes())
			r.Mount("/logs", logs{s}.Routes())
			r.Mount("/recordings", recordings{s}.Routes())
		})
	})
	return r // chi sets r.PathValue for the web channel's net/http handlers
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		fail(w, http.StatusServiceUnavailable, "starting", "not ready yet")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type ctxKey int

const accountKey ctxKey = 0

// AccountFrom returns the authenticated account.
func AccountFrom(ctx context.Context) store.Account {
	a, _ := ctx.Value(accountKey).(store.Account)
	return a
}

type cachedKey struct {
	acct store.Account
	at   time.Time
}

type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(h, "Bearer ")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chorus"`)
			fail(w, http.StatusUnauthorized, "unauthorized", "send your API key as \"Authorization: Bearer <key>\"")
			return
		}
		acct, err := s.account(r.Context(), key)
		if errors.Is(err, store.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chorus", error="invalid_token"`)
			fail(w, http.StatusUnauthorized, "unauthorized", "unknown API key")
			return
		}
		if err != nil {
			s.internal(w, "look up API key", err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accountKey, acct)))
	})
}

func (s *Server) account(ctx context.Context, key string) (store.Account, error) {
	h := store.HashKey(key)
	s.keys.mu.Lock()
	c, ok := s.keys.m[h]
	s.keys.mu.Unlock()
	if ok && time.Since(c.at) < time.Minute {
		return c.acct, nil
	}
	acct, err := s.cfg.Store.AccountByKey(ctx, key)
	if err != nil {
		return acct, err
	}
	s.keys.mu.Lock()
	if len(s.keys.m) > 10000 {
		clear(s.keys.m)
	}
	s.keys.m[h] = cachedKey{acct, time.Now()}
	s.keys.mu.Unlock()
	return acct, nil
}

// errorBody is every error's JSON.
type errorBody = httpjson.Error

var (
	writeJSON = httpjson.Write
	fail      = httpjson.Fail
)

// internal answers 500 without the error's text (it may name files or
// database details); the server's log has it.
func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("api: "+what, "err", err)
	fail(w, http.StatusInternalServerError, "internal", what+" failed on the server; the server log has the details")
}

func notFound(w http.ResponseWriter, what string) {
	fail(w, http.StatusNotFound, "not_found", what+" not found")
}

// decode reads a JSON body of at most max bytes.
func decode(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than the limit")
			return false
		}
		fail(w, http.StatusBadRequest, "bad_json", "the body is not the JSON this endpoint takes: "+err.Error())
		return false
	}
	return true
}

func isAdmin(a store.Account) bool { return a.Role == store.RoleAdmin }

// sees reports whether acct may see a resource of owner.
func sees(acct store.Account, owner int64) bool { return isAdmin(acct) || acct.ID == owner }

// scope is the account filter for listings: 0 (all) for admin.
func scope(acct store.Account) int64 {
	if isAdmin(acct) {
		return 0
	}
	return acct.ID
}

func ts(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// reserved are the path prefixes of the API itself; a webhook may not take
// them.
var reserved = []string{"/healthz", "/chat/", "/v1/openapi.json", "/v1/web/", "/v1/accounts", "/v1/apps", "/v1/addresses", "/v1/sessions", "/v1/logs", "/v1/recordings"}

func checkWebhookPath(path string) error {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "{}*") {
		return fmt.Errorf("api: webhook path %q must be a plain absolute path", path)
	}
	for _, p := range reserved {
		if path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, p) {
			return fmt.Errorf("api: webhook path %s collides with the API's %s; choose another (e.g. /v1/sms/<route>)", path, p)
		}
	}
	return nil
}

// changed invalidates the engine's routes and tells the channels that
// addresses may have changed.
func (s *Server) changed(addresses bool) {
	s.cfg.Engine.Invalidate()
	if addresses && s.cfg.AddressesChanged != nil {
		s.cfg.AddressesChanged()
	}
}
