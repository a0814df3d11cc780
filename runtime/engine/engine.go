package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/runtime/applog"
	"github.com/chorus-dev/chorus/runtime/luamod/httpmod"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/runtime/verbs"
	"github.com/chorus-dev/chorus/store"
)

// Causes sessions are ended with from outside.
var (
	ErrEndedByAPI = errors.New("ended through the API")
	ErrShutdown   = channels.ErrShutdown
	ErrNoApp      = errors.New("no app is bound to this address")
)

// Apology is what a person gets when the app fails or hits a limit.
const Apology = "Sorry, something went wrong on our side. Please try again later."

// Config configures an Engine.
type Config struct {
	Store   store.Store
	Sandbox *sandbox.Sandbox
	Logs    *applog.Hub
	// HTTP is the scripts' http module (nil: http is absent).
	HTTP *httpmod.Client
	// Outbound serves message() and call(); may be set later with
	// SetOutbound.
	Outbound verbs.Outbound
	// HangupGrace is how long a script may run its onHangup handlers after
	// the other party left (default 5 s).
	HangupGrace time.Duration
	// AppMessagesPerMinute bounds message()/call() per app (0: unbounded).
	AppMessagesPerMinute int
	// KVMaxKeys and KVMaxBytes bound each app's key/value store (default
	// 10,000 keys and 16 MiB of keys and values).
	KVMaxKeys  int
	KVMaxBytes int64
	// TextAskTimeout, VoiceAskTimeout: ask's default timeouts (300 s, 10 s).
	TextAskTimeout, VoiceAskTimeout time.Duration
	Logger                          *slog.Logger
}

// Engine runs apps.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	cache *codeCache

	routeMu  sync.Mutex
	routeGen uint64 // bumped by Invalidate: a lookup begun before it is not cached
	routes   map[channels.Address]route
	configs  map[int64]map[string]string

	liveMu sync.Mutex
	noteMu sync.Mutex // serialises Note on ended sessions
	live   map[string]*live
	closed bool // Shutdown began: Launch refuses
	rates  minuteRates

	base     context.Context
	stopBase context.CancelCauseFunc
	wg       sync.WaitGroup
}

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Sandbox == nil || cfg.Logs == nil {
		return nil, errors.New("engine: Store, Sandbox and Logs are required")
	}
	if cfg.HangupGrace <= 0 {
		cfg.HangupGrace = 5 * time.Second
	}
	if cfg.KVMaxKeys <= 0 {
		cfg.KVMaxKeys = 10000
	}
	if cfg.KVMaxBytes <= 0 {
		cfg.KVMaxBytes = 16 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancelCause(context.Background())
	return &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		cache:    newCodeCache(cfg.Store, 256),
		routes:   map[channels.Address]route{},
		configs:  map[int64]map[string]string{},
		live:     map[string]*live{},
		base:     base,
		stopBase: stop,
	}, nil
}

// SetOutbound sets what message() and call() use.
func (e *Engine) SetOutbound(o verbs.Outbound) { e.cfg.Outbound = o }

// NewID returns a new session id.
func NewID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Invalidate drops cached routes and configuration (call after any change
// to apps, versions, addresses or config).
func (e *Engine) Invalidate() {
	e.routeMu.Lock()
	e.routeGen++
	clear(e.routes)
	clear(e.configs)
	e.routeMu.Unlock()
}

// Resolve reports whether an app is bound to addr.
func (e *Engine) Resolve(ctx context.Context, addr channels.Address) (bool, error) {
	_, err := e.route(ctx, addr)
	if errors.Is(err, ErrNoApp) {
		return false, nil
	}
	return err == nil, err
}

// ServeConversation runs the app bound to the conversation's local address.
func (e *Engine) ServeConversation(c channels.Conversation) {
	info := c.Info()
	rt, err := e.route(c.Context(), info.Local)
	if err != nil {
		e.log.Warn("conversation for an address without an app", "network", string(info.Local.Network), "remote", info.Remote.String(), "address", info.Local.ID, "err", err)
		return
	}
	e.run(c, rt, nil, e.register(c, rt, nil, info.ID))
}

// Launch starts a session of the account's app with params and no
// conversation (the script calls or messages someone). It returns the id.
func (e *Engine) Launch(ctx context.Context, accountID int64, app string, params map[string]any) (string, error) {
	a, err := e.cfg.Store.App(ctx, accountID, app)
	if err != nil {
		return "", err
	}
	rt := route{AccountID: a.AccountID, AppID: a.ID, AppName: a.Name, Version: a.LiveVersion}
	if _, err := e.cache.get(ctx, rt.AppID, rt.Version); err != nil {
		return "", err
	}
	e.liveMu.Lock()
	if e.closed {
		e.liveMu.Unlock()
		return "", channels.ErrShutdown
	}
	e.wg.Add(1)
	e.liveMu.Unlock()
	l := e.register(nil, rt, params, NewID())
	go func() {
		defer e.wg.Done()
		e.run(nil, rt, params, l)
	}()
	return l.rec.ID, nil
}

// End stops a live session (DELETE /v1/sessions/{id}). It reports whether
// the session was live.
func (e *Engine) End(id string, cause error) bool {
	e.liveMu.Lock()
	l := e.live[id]
	e.liveMu.Unlock()
	if l == nil {
		return false
	}
	l.stop(cause)
	return true
}

// Shutdown stops every launched session and waits for them until ctx is
// done. Conversations owned by channels end through their own Shutdown.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.stopBase(ErrShutdown)
	e.liveMu.Lock()
	e.closed = true
	for _, l := range e.live {
		l.stop(ErrShutdown)
	}
	e.liveMu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine: sessions still running at shutdown: %w", ctx.Err())
	}
}

// Live returns the live view of a session, if it runs on this node.
func (e *Engine) Live(id string) (store.Session, bool) {
	e.liveMu.Lock()
	l := e.live[id]
	e.liveMu.Unlock()
	if l == nil {
		return store.Session{}, false
	}
	return l.snapshot(), true
}

// LiveSessions returns the live sessions (optionally of one account).
func (e *Engine) LiveSessions(accountID int64) []store.Session {
	e.liveMu.Lock()
	ls := make([]*live, 0, len(e.live))
	for _, l := range e.live {
		if accountID == 0 || l.rec.AccountID == accountID {
			ls = append(ls, l)
		}
	}
	e.liveMu.Unlock()
	out := make([]store.Session, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.snapshot())
	}
	return out
}

// LiveCount counts live sessions.
func (e *Engine) LiveCount() int {
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	return len(e.live)
}

// CompileFiles compiles every .lua file of an upload; the error names the
// file and line (a *sandbox.CompileError).
func CompileFiles(files map[string][]byte) error {
	if _, ok := files["main.lua"]; !ok {
		return errors.New("the upload has no main.lua (the entry point)")
	}
	_, err := compileAll(files)
	return err
}
