package xmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/thread"
)

// Component is one XEP-0114 link: Chorus serves every <name>@Domain.
type Component struct {
	Domain string // the component's domain, e.g. "apps.localhost"
	Server string // the server's component port, "host:port"
	Secret string // the shared secret (never logged)
}

// Account is one account-mode JID Chorus logs in as.
type Account struct {
	JID      string // bare JID, normalised (lower case)
	Password string // never logged
	// Server is "host:port"; empty means <domain>:5222 (no SRV lookup).
	Server string
}

// Config configures the XMPP channel.
type Config struct {
	// Handler runs each conversation (the engine). Required.
	Handler channels.Handler
	// NewID makes session ids. Required.
	NewID func() string
	// Components are the XEP-0114 links to keep up.
	Components []Component
	// AllowPlaintext lets an account log in without TLS when its server
	// offers no STARTTLS (loopback, tests). STARTTLS is used whenever the
	// server offers it, allowed or not.
	AllowPlaintext bool
	// TLSConfig is cloned for STARTTLS (RootCAs for a private CA...). Its
	// ServerName defaults to the JID's domain.
	TLSConfig *tls.Config
	// Resolve reports whether an app is bound to a JID of a component
	// domain; messages to unbound JIDs get a <service-unavailable/> error.
	// Nil: every JID of a component domain is bound.
	Resolve func(ctx context.Context, a channels.Address) (bool, error)
	// Idle and MaxLive are passed to channels/thread (defaults 30 min and
	// 10,000).
	Idle    time.Duration
	MaxLive int
	// MinBackoff and MaxBackoff bound the delay before a reconnection
	// (defaults 1 s and 30 s; doubling, ±20% jitter). A refused login
	// waits MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Ping is the silence on an account connection after which the server
	// is pinged (XEP-0199); no answer within a third of it resets the
	// connection. Default 90 s.
	Ping   time.Duration
	Logger *slog.Logger
}

// Channel is the XMPP channel: account-mode connections and component
// links, one conversation per (our JID, their bare JID).
type Channel struct {
	cfg     Config
	log     *slog.Logger
	threads *thread.Threads
	comps   map[string]*component // by domain

	routesMu sync.Mutex
	routes   map[routeKey]routeInfo

	mu       sync.Mutex
	accounts map[string]*account
	runCtx   context.Context // set by Serve
	stopRun  context.CancelFunc
	runners  sync.WaitGroup
	closed   bool // Shutdown called
	stopping bool // runners are being waited for: start no more
}

// The sentinel errors this package wraps.
var (
	errNoRoute = channels.ErrNoRoute
	errOffline = channels.ErrUnavailable
)

// New returns the XMPP channel. Nothing connects before Serve.
func New(cfg Config) (*Channel, error) {
	if cfg.Handler == nil || cfg.NewID == nil {
		return nil, errors.New("xmpp: Handler and NewID are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	exemptLoopback()
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Minute
	}
	if cfg.Ping <= 0 {
		cfg.Ping = 90 * time.Second
	}
	c := &Channel{
		cfg:      cfg,
		log:      cfg.Logger.With("network", string(channels.XMPP)),
		comps:    map[string]*component{},
		routes:   map[routeKey]routeInfo{},
		accounts: map[string]*account{},
	}
	for _, k := range cfg.Components {
		d := strings.ToLower(strings.TrimSpace(k.Domain))
		switch {
		case d == "" || strings.ContainsAny(d, "@/ "):
			return nil, fmt.Errorf("xmpp: component domain %q: want a domain like apps.example.com", k.Domain)
		case k.Server == "":
			return nil, fmt.Errorf("xmpp: component %s: server (host:port of the XMPP server's component port) is required", d)
		case k.Secret == "":
			return nil, fmt.Errorf("xmpp: component %s: secret is required", d)
		case c.comps[d] != nil:
			return nil, fmt.Errorf("xmpp: component %s is configured twice", d)
		}
		k.Domain = d
		c.comps[d] = &component{ch: c, cfg: k, log: c.log.With("component", d), done: make(chan struct{}),
			link: linkState{state: "connecting"}}
	}
	th, err := thread.New(thread.Config{
		Handler: cfg.Handler,
		Send:    c.send,
		Idle:    cfg.Idle,
		MaxLive: cfg.MaxLive,
		NewID:   cfg.NewID,
		Logger:  c.log,
	})
	if err != nil {
		return nil, err
	}
	c.threads = th
	return c, nil
}

// Network is channels.XMPP.
func (c *Channel) Network() channels.Network { return channels.XMPP }

// Threads exposes the conversations (for the API's DELETE and tests).
func (c *Channel) Threads() *thread.Threads { return c.threads }

// Serve keeps the component links and account connections up until ctx is
// done or Shutdown is called; then it logs them out and returns.
func (c *Channel) Serve(ctx context.Context) error {
	c.mu.Lock()
	if c.closed || c.runCtx != nil {
		c.mu.Unlock()
		return fmt.Errorf("xmpp: Serve called twice or after Shutdown: %w", channels.ErrUnavailable)
	}
	c.runCtx, c.stopRun = context.WithCancel(ctx)
	run := c.runCtx
	for _, k := range c.comps {
		c.runners.Add(1)
		go func() { defer c.runners.Done(); k.run(run) }()
	}
	for _, a := range c.accounts {
		c.startLocked(a)
	}
	c.mu.Unlock()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-run.Done():
			c.mu.Lock()
			c.stopping = true
			c.mu.Unlock()
			c.runners.Wait()
			return nil
		case <-sweep.C:
			c.sweepRoutes()
		}
	}
}

// startLocked starts a's runner; c.mu is held and Serve runs.
func (c *Channel) startLocked(a *account) {
	if c.stopping {
		return
	}
	ctx, cancel := context.WithCancel(c.runCtx)
	a.cancel = cancel
	c.runners.Add(1)
	go func() { defer c.runners.Done(); a.run(ctx) }()
}

// Shutdown stops taking new conversations, drains the live ones (links
// stay up so that their replies go out), then logs every connection out
// (unavailable presence, </stream:stream>) and waits for them until ctx is
// done.
func (c *Channel) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	err := c.threads.Shutdown(ctx)
	c.mu.Lock()
	stop := c.stopRun
	c.stopping = true
	c.mu.Unlock()
	if stop == nil {
		return err
	}
	stop()
	done := make(chan struct{})
	go func() { c.runners.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("xmpp: connections still closing at shutdown: %w", ctx.Err())
		}
	}
	return err
}

// SetAccounts makes accts the set of account-mode JIDs: new ones connect,
// removed ones log out, ones whose password or server changed reconnect.
// JIDs in a component domain need no account and are skipped. Safe to call
// at any time, before or while Serve runs.
func (c *Channel) SetAccounts(accts []Account) {
	want := map[string]Account{}
	for _, ac := range accts {
		jid, err := channels.Normalize(channels.XMPP, ac.JID)
		if err != nil || localOf(jid) == "" {
			c.log.Error("xmpp account ignored: not a bare JID user@domain", "jid", ac.JID)
			continue
		}
		if c.comps[domainOf(jid)] != nil {
			c.log.Debug("xmpp account ignored: its domain is served by a component", "jid", jid)
			continue
		}
		ac.JID = jid
		want[jid] = ac
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := map[string]*account{}
	queued := map[string][]pending{}
	for jid, a := range c.accounts {
		ac, ok := want[jid]
		if ok && ac == a.acct {
			continue
		}
		if ok {
			// Changed (password, server): the replacement sends what
			// waits for this JID.
			a.mu.Lock()
			queued[jid], a.queue = a.queue, nil
			a.mu.Unlock()
		}
		c.retireLocked(a)
		delete(c.accounts, jid)
		old[jid] = a
	}
	for jid, ac := range want {
		if c.accounts[jid] != nil {
			continue
		}
		a := &account{ch: c, jid: jid, acct: ac, log: c.log.With("jid", jid), done: make(chan struct{}),
			link: linkState{state: "connecting"}, prev: old[jid], queue: queued[jid]}
		c.accounts[jid] = a
		if c.runCtx != nil && !c.closed {
			c.startLocked(a)
		}
	}
}

// retireLocked stops a (it logs out in the background, owned by runners).
func (c *Channel) retireLocked(a *account) {
	a.mu.Lock()
	a.closed = true
	dropped := len(a.queue)
	a.queue = nil
	a.mu.Unlock()
	if dropped > 0 {
		a.log.Warn("xmpp account removed with replies still queued; they are dropped", "count", dropped)
	}
	if a.cancel != nil {
		a.cancel()
		a.log.Info("xmpp account removed or changed; logging out")
	} else {
		close(a.done) // never started
	}
}

// State reports the link serving jid: "connecting", "connected", "failed"
// (detail says why, retryAt is the next attempt) or "disabled" (no account
// and not in a component domain).
func (c *Channel) State(jid string) (state, detail string, retryAt time.Time) {
	n, err := channels.Normalize(channels.XMPP, jid)
	if err != nil {
		return "disabled", err.Error(), time.Time{}
	}
	var s linkState
	if k := c.comps[domainOf(n)]; k != nil {
		s = k.state()
	} else {
		c.mu.Lock()
		a := c.accounts[n]
		c.mu.Unlock()
		if a == nil {
			return "disabled", "no account for " + n, time.Time{}
		}
		s = a.state()
	}
	return s.state, s.detail, s.retryAt
}

func addr(jid string) channels.Address { return channels.Address{Network: channels.XMPP, ID: jid} }

// SendMessage sends m outside any conversation (message()): m.From is our
// JID, m.To theirs. While the link is down the message is queued (see
// doc.go).
func (c *Channel) SendMessage(ctx context.Context, m channels.Message) error {
	from, err := channels.Normalize(channels.XMPP, m.From.ID)
	if err != nil || localOf(from) == "" {
		return fmt.Errorf("xmpp: the app has no JID to send from (%q): %w", m.From.ID, errNoRoute)
	}
	to, err := channels.Normalize(channels.XMPP, m.To.ID)
	if err != nil {
		return fmt.Errorf("xmpp: cannot send to %q: %w", m.To.ID, err)
	}
	m.From, m.To = addr(from), addr(to)
	return c.send(ctx, m)
}

// Dial opens an outbound conversation (call() on JABBER) from our JID to
// theirs; replies from them go to it. The caller closes it.
func (c *Channel) Dial(_ context.Context, from, to string, opts channels.DialOptions) (channels.Conversation, error) {
	f, err := channels.Normalize(channels.XMPP, from)
	if err != nil {
		return nil, fmt.Errorf("xmpp: dial from %q: %w", from, err)
	}
	t, err := channels.Normalize(channels.XMPP, to)
	if err != nil {
		return nil, fmt.Errorf("xmpp: dial %q: %w", to, err)
	}
	if !c.serves(f) {
		return nil, fmt.Errorf("xmpp: no account or component serves %s: %w", f, errNoRoute)
	}
	id := opts.SessionID
	if id == "" {
		id = c.cfg.NewID()
	}
	return c.threads.Open(addr(f), addr(t), id)
}

func (c *Channel) serves(jid string) bool {
	if c.comps[domainOf(jid)] != nil {
		return localOf(jid) != ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accounts[jid] != nil
}

// send is the threads' Send: route an app's message to the link serving
// its JID.
func (c *Channel) send(_ context.Context, m channels.Message) error {
	local, remote := m.From.ID, m.To.ID
	if k := c.comps[domainOf(local)]; k != nil {
		return k.send(local, remote, m.Text)
	}
	c.mu.Lock()
	a := c.accounts[local]
	c.mu.Unlock()
	if a == nil {
		return fmt.Errorf("xmpp: no account or component serves %s: %w", local, errNoRoute)
	}
	return a.send(remote, m.Text)
}

// inbound is a chat message a link received.
type inbound struct {
	local  string // our bare JID (normalised)
	full   string // their full JID as sent
	text   string
	thread string
	nick   string
	stamp  time.Time // XEP-0203 delay (offline storage)
}

// receive hands an inbound message to its conversation; bounce answers the
// sender with an error when it cannot be taken.
func (c *Channel) receive(in inbound, bounce func(typ, cond, text string)) {
	bare, resource := splitJID(in.full)
	remote, err := channels.Normalize(channels.XMPP, bare)
	if err != nil {
		c.log.Debug("xmpp message from an invalid JID ignored", "remote", cut(in.full, 256))
		return
	}
	if remote == in.local {
		return
	}
	text := in.text
	if len(text) > MaxText {
		c.log.Warn("xmpp message longer than 16 KiB cut", "jid", in.local, "remote", remote, "bytes", len(text))
		text = cut(text, MaxText)
	}
	c.remember(in.local, remote, in.full, in.thread)
	h := map[string]string{}
	if resource != "" {
		h["resource"] = resource
	}
	if in.thread != "" {
		h["thread"] = in.thread
	}
	at := time.Now()
	if !in.stamp.IsZero() {
		h["delay"] = in.stamp.UTC().Format(time.RFC3339)
		at = in.stamp
	}
	m := channels.Message{From: addr(remote), To: addr(in.local), Text: text, Name: in.nick, Headers: h, At: at}
	_, _, err = c.threads.Deliver(m)
	switch {
	case err == nil:
	case errors.Is(err, channels.ErrQueueFull), errors.Is(err, thread.ErrCapacity):
		c.log.Warn("xmpp message refused", "jid", in.local, "remote", remote, "why", err.Error())
		bounce("wait", "resource-constraint", "too many messages at once; wait for the answer and write again")
	case errors.Is(err, channels.ErrUnavailable):
		c.log.Info("xmpp message refused while shutting down", "jid", in.local, "remote", remote)
		bounce("wait", "service-unavailable", "the service is restarting; write again in a minute")
	default:
		c.log.Warn("xmpp message refused", "jid", in.local, "remote", remote, "why", err.Error())
		bounce("wait", "internal-server-error", "try again shortly")
	}
}

// Reply routing: a reply goes to the full JID that last wrote (with its
// <thread>), else to the bare JID.
type routeKey struct{ local, remote string }

type routeInfo struct {
	full, thread string
	at           time.Time
}

const maxRoutes = 100_000

func (c *Channel) remember(local, remote, full, thread string) {
	c.routesMu.Lock()
	defer c.routesMu.Unlock()
	if len(c.routes) >= maxRoutes {
		n := 0
		for k := range c.routes { // drop a tenth, in map order
			delete(c.routes, k)
			if n++; n >= maxRoutes/10 {
				break
			}
		}
	}
	c.routes[routeKey{local, remote}] = routeInfo{full: cut(full, 1024), thread: cut(thread, 256), at: time.Now()}
}

func (c *Channel) route(local, remote string) (to, thread string) {
	c.routesMu.Lock()
	defer c.routesMu.Unlock()
	if r, ok := c.routes[routeKey{local, remote}]; ok {
		return r.full, r.thread
	}
	return remote, ""
}

func (c *Channel) sweepRoutes() {
	c.routesMu.Lock()
	defer c.routesMu.Unlock()
	for k, r := range c.routes {
		if time.Since(r.at) > c.cfg.Idle {
			delete(c.routes, k)
		}
	}
}

// backoff is an exponential reconnection delay with jitter.
type backoff struct{ min, max, cur time.Duration }

func (c *Channel) newBackoff() *backoff {
	return &backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	j := int64(b.cur) / 5
	if j <= 0 {
		return b.cur
	}
	return min(b.cur+time.Duration(rand.Int64N(2*j+1)-j), b.max)
}

func (b *backoff) reset() { b.cur = 0 }

// link is one connection the channel keeps up (an account's or a
// component's), as keepUp drives it.
type link[C any] struct {
	what    string // "account" or "component", for the log
	log     *slog.Logger
	set     func(linkState)
	connect func(ctx context.Context) (C, error)
	// abort closes what connect returned (maybe nothing) when ctx ended.
	abort func(c C, err error)
	// serve runs a connection until it ends; up is logged when it starts.
	serve func(ctx context.Context, c C) error
	up    func(c C) []any
}

// keepUp connects, serves and reconnects with backoff until ctx is done.
// A refused credential (a bad password or secret) waits the longest
// backoff: a server is not hammered with it.
func keepUp[C any](ctx context.Context, c *Channel, l link[C]) {
	b := c.newBackoff()
	for {
		l.set(linkState{state: "connecting"})
		conn, err := l.connect(ctx)
		if ctx.Err() != nil {
			l.abort(conn, ctx.Err())
			return
		}
		if err == nil {
			l.log.Info("xmpp "+l.what+" connected", l.up(conn)...)
			l.set(linkState{state: "connected"})
			start := time.Now()
			err = l.serve(ctx, conn)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) >= stableAfter {
				b.reset() // a server that drops us right after login keeps backing off
			}
		}
		wait := b.next()
		var le *linkError
		if errors.As(err, &le) && (le.why == whyAuth || le.why == whySecret) && wait < c.cfg.MaxBackoff {
			wait = c.cfg.MaxBackoff
		}
		l.set(linkState{state: "failed", detail: err.Error(), retryAt: time.Now().Add(wait)})
		l.log.Warn("xmpp "+l.what+" offline; reconnecting", "why", err.Error(), "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// exemptLoopback keeps go-xmpp's leg of the relay off any HTTP proxy:
// go-xmpp reads HTTP_PROXY itself and honours only NO_PROXY, so when a
// proxy is set for the process, 127.0.0.1 is added to NO_PROXY (loopback
// is never proxied by net/http either, so nothing else changes).
func exemptLoopback() {
	if os.Getenv("HTTP_PROXY") == "" && os.Getenv("http_proxy") == "" {
		return
	}
	for _, name := range []string{"NO_PROXY", "no_proxy"} {
		v := os.Getenv(name)
		if strings.Contains(v, "127.0.0.1") {
			continue
		}
		if v != "" {
			v += ","
		}
		_ = os.Setenv(name, v+"127.0.0.1")
	}
}
