package xmpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	goxmpp "github.com/xmppo/go-xmpp"
)

// account keeps one account-mode JID logged in: it owns the runner
// goroutine and, while connected, one session.
type account struct {
	ch   *Channel
	jid  string
	acct Account
	log  *slog.Logger
	// prev is the account this one replaces (changed password or server):
	// the runner waits for it to log out first.
	prev   *account
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	link   linkState
	sess   *session
	queue  []pending // replies waiting for a connection
	closed bool
}

// pending is a reply written while the link was down.
type pending struct {
	from, to, text string
	at             time.Time
}

// Replies kept per account (or component) while its link is down, and for
// how long.
const (
	maxQueued = 100
	queueTTL  = 10 * time.Minute
)

// linkState is what State reports.
type linkState struct {
	state, detail string
	retryAt       time.Time
}

func (a *account) setState(s linkState) {
	a.mu.Lock()
	a.link = s
	a.mu.Unlock()
}

func (a *account) state() linkState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.link
}

// run connects, serves, and reconnects with backoff until ctx is done.
func (a *account) run(ctx context.Context) {
	defer close(a.done)
	if a.prev != nil {
		<-a.prev.done
	}
	keepUp(ctx, a.ch, link[*session]{
		what:    "account",
		log:     a.log,
		set:     a.setState,
		connect: a.connect,
		abort: func(s *session, err error) {
			if s != nil {
				s.relay.shut(err)
			}
		},
		serve: a.serve,
		up:    func(s *session) []any { return []any{"resource", s.resource, "tls", s.tls} },
	})
}

// session is one logged-in connection of an account: go-xmpp speaks the
// client protocol over a loopback connection that a relay joins to the
// server (see doc.go).
type session struct {
	a        *account
	cl       *goxmpp.Client
	relay    *relay
	resource string
	tls      bool

	wmu    sync.Mutex
	closed bool
}

func (a *account) connect(ctx context.Context) (*session, error) {
	domain := domainOf(a.jid)
	addr := a.acct.Server
	if addr == "" {
		addr = net.JoinHostPort(domain, "5222")
	}
	remote, err := dialServer(ctx, addr, domain, a.ch.cfg.AllowPlaintext, a.ch.cfg.TLSConfig)
	if err != nil {
		return nil, err
	}
	_, isTLS := remote.(*tls.Conn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		remote.Close()
		return nil, &linkError{why: whyUnreachable, err: fmt.Errorf("loopback listener for the client library: %w", err)}
	}
	resource := "chorus-" + newStanzaID()[:8]
	opts := goxmpp.Options{
		Host:                         ln.Addr().String(),
		User:                         a.jid,
		Password:                     a.acct.Password,
		Resource:                     resource,
		NoTLS:                        true, // the relay did STARTTLS with the server
		InsecureAllowUnencryptedAuth: true, // on the loopback leg only
		DialTimeout:                  dialTimeout,
		Status:                       "chat",
		SoftwareName:                 "chorus",
	}
	type result struct {
		cl  *goxmpp.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		cl, err := opts.NewClient()
		done <- result{cl, err}
	}()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(dialTimeout))
	local, err := ln.Accept()
	ln.Close()
	if err != nil {
		remote.Close()
		<-done // its dial fails now that the listener is closed
		return nil, &linkError{why: whyUnreachable, err: fmt.Errorf("the client library did not connect to its loopback relay: %w", err)}
	}
	rl := startRelay(local, remote)
	timer := time.AfterFunc(loginTimeout, func() {
		rl.close(fmt.Errorf("login did not finish within %s", loginTimeout))
	})
	stop := context.AfterFunc(ctx, func() { rl.close(ctx.Err()) })
	r := <-done
	timer.Stop()
	stop()
	if r.err == nil && rl.cause() == nil {
		return &session{a: a, cl: r.cl, relay: rl, resource: resource, tls: isTLS}, nil
	}
	cause := rl.cause() // why the relay ended by itself, if it did
	rl.shut(errors.New("login failed"))
	if r.err != nil && strings.HasPrefix(r.err.Error(), "auth failure") || cause == nil {
		return nil, classifyLogin(r.err)
	}
	return nil, classify(whyLost, cause)
}

func isGuard(err error) bool {
	var ge *GuardError
	return errors.As(err, &ge)
}

// classifyLogin sorts go-xmpp's login errors (plain strings) for State.
func classifyLogin(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "auth failure"):
		return &linkError{why: whyAuth, err: fmt.Errorf("the server refused the login (%s): check the JID and password", strings.TrimPrefix(msg, "auth failure: "))}
	case strings.Contains(msg, "stream error"):
		return &linkError{why: whyProtocol, err: err}
	}
	return classify(whyLost, readErr(err))
}

// serve reads stanzas until the connection ends or ctx is done (then it
// logs out cleanly).
func (a *account) serve(ctx context.Context, s *session) error {
	a.mu.Lock()
	a.sess = s
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		if a.sess == s {
			a.sess = nil
		}
		a.mu.Unlock()
	}()
	a.flush(s)
	errc := make(chan error, 1)
	go func() { errc <- s.recvLoop() }()
	pingStop := make(chan struct{})
	pingDone := make(chan struct{})
	go func() { defer close(pingDone); s.keepAlive(pingStop) }()
	defer func() { close(pingStop); <-pingDone }()
	select {
	case err := <-errc:
		s.markClosed()
		cause := s.relay.cause()
		s.relay.shut(err)
		if cause != nil {
			err = cause
		}
		err = readErr(err)
		return classify(whyLost, err) // a GuardError becomes whyHostile; run logs it
	case <-ctx.Done():
		s.goodbye()
		t := time.NewTimer(goodbyeWait)
		select {
		case <-errc:
			t.Stop()
			s.relay.shut(ctx.Err())
		case <-t.C:
			s.relay.shut(ctx.Err())
			<-errc
		}
		a.log.Info("xmpp account logged out")
		return ctx.Err()
	}
}

// goodbye announces we leave (the server then keeps new messages offline)
// and closes the stream.
func (s *session) goodbye() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	_, _ = s.cl.SendOrg(presenceStanza("", "", "unavailable"))
	_, _ = s.cl.SendOrg("</stream:stream>")
}

func (s *session) markClosed() {
	s.wmu.Lock()
	s.closed = true
	s.wmu.Unlock()
}

var errSessionClosed = errors.New("the connection is closed")

// write sends one stanza.
func (s *session) write(stanza string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return errSessionClosed
	}
	if _, err := s.cl.SendOrg(stanza); err != nil {
		return err
	}
	return nil
}

// keepAlive pings the server after Config.Ping of silence and resets the
// connection when no answer comes within a third of it.
func (s *session) keepAlive(stop <-chan struct{}) {
	idle := s.a.ch.cfg.Ping
	deadline := idle / 3
	t := time.NewTicker(idle / 6)
	defer t.Stop()
	var pinged time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		last := time.Unix(0, s.relay.lastRead.Load())
		switch {
		case !pinged.IsZero() && last.After(pinged):
			pinged = time.Time{}
		case !pinged.IsZero() && time.Since(pinged) > deadline:
			s.relay.close(fmt.Errorf("the server did not answer a ping within %s", deadline.Round(time.Millisecond)))
			return
		case pinged.IsZero() && time.Since(last) > idle:
			pinged = time.Now()
			_ = s.write("<iq type='get' id='ping-" + newStanzaID() + "' to='" + esc(domainOf(s.a.jid)) + "'><ping xmlns='" + nsPing + "'/></iq>")
		}
	}
}

// Errors go-xmpp's Recv returns for a stanza it could not turn into a
// value although the stream is fine: the next Recv goes on.
var recvSoft = []string{
	"no avatar metadata items available",
	"no avatar data items available",
}

func (s *session) recvLoop() error {
	for {
		st, err := s.cl.Recv()
		if err != nil {
			soft := false
			for _, m := range recvSoft {
				soft = soft || err.Error() == m
			}
			if soft {
				continue
			}
			return err
		}
		switch v := st.(type) {
		case goxmpp.Chat:
			s.a.onChat(s, v)
		case goxmpp.Presence:
			s.a.onPresence(s, v)
		case goxmpp.IQ:
			s.a.onIQ(s, v)
		}
	}
}

func (a *account) onChat(s *session, v goxmpp.Chat) {
	switch v.Type {
	case "chat", "normal", "":
	default:
		return // groupchat, headline, error, roster results
	}
	if v.Text == "" {
		return // chat states, receipts, typing notifications
	}
	bare, _ := splitJID(v.Remote)
	if !strings.Contains(bare, "@") {
		a.log.Debug("xmpp message from a server ignored", "remote", v.Remote)
		return
	}
	in := inbound{
		local:  a.jid,
		full:   v.Remote,
		text:   v.Text,
		thread: v.Thread,
		stamp:  v.Stamp,
		nick:   nickOf(v.OtherElem),
	}
	a.ch.receive(in, func(typ, cond, text string) {
		_ = s.write(errorStanza("message", "", v.Remote, "", typ, cond, text))
	})
}

func nickOf(els []goxmpp.XMLElement) string {
	for _, e := range els {
		if e.XMLName.Local == "nick" && e.XMLName.Space == "http://jabber.org/protocol/nick" {
			var n struct {
				Text string `xml:",chardata"`
			}
			if xml.Unmarshal([]byte("<n>"+e.InnerXML+"</n>"), &n) == nil {
				return cut(strings.TrimSpace(n.Text), 256)
			}
		}
	}
	return ""
}

func (a *account) onPresence(s *session, v goxmpp.Presence) {
	if v.Type != "subscribe" {
		return
	}
	bare, _ := splitJID(v.From)
	if bare == "" || strings.EqualFold(bare, a.jid) {
		return
	}
	// Approve, and subscribe back so that the person sees us online.
	s.wmu.Lock()
	if !s.closed {
		s.cl.ApproveSubscription(bare)
		s.cl.RequestSubscription(bare)
	}
	s.wmu.Unlock()
	a.log.Info("xmpp subscription approved", "remote", bare)
}

func (a *account) onIQ(s *session, v goxmpp.IQ) {
	if v.Type != "get" && v.Type != "set" {
		return
	}
	if v.Type == "set" && bytes.Contains(v.Query, []byte(nsRoster)) {
		// A roster push (after a subscription): acknowledge it.
		bare, _ := splitJID(v.From)
		if v.From == "" || strings.EqualFold(bare, a.jid) {
			_ = s.write(iqResult("", v.From, v.ID, ""))
		}
		return
	}
	if v.From == "" {
		return
	}
	_ = s.write(errorStanza("iq", "", v.From, v.ID, "cancel", "service-unavailable", ""))
}

// send delivers a reply now, or queues it while the account is offline.
func (a *account) send(to, text string) error {
	a.mu.Lock()
	s := a.sess
	if a.closed {
		a.mu.Unlock()
		return fmt.Errorf("xmpp: account %s was removed: %w", a.jid, errNoRoute)
	}
	if s == nil {
		err := a.enqueueLocked(to, text)
		a.mu.Unlock()
		return err
	}
	a.mu.Unlock()
	full, thread := a.ch.route(a.jid, to)
	if err := s.write(chatStanza("", full, text, thread)); err != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.enqueueLocked(to, text)
	}
	return nil
}

func (a *account) enqueueLocked(to, text string) error {
	now := time.Now()
	q := a.queue[:0]
	for _, p := range a.queue {
		if now.Sub(p.at) < queueTTL {
			q = append(q, p)
		}
	}
	a.queue = q
	if len(a.queue) >= maxQueued {
		return fmt.Errorf("xmpp: %s is offline (%s) and %d replies already wait: %w", a.jid, a.link.detail, maxQueued, errOffline)
	}
	a.queue = append(a.queue, pending{to: to, text: text, at: now})
	return nil
}

// flush sends the replies queued while offline, oldest first.
func (a *account) flush(s *session) {
	a.mu.Lock()
	q := a.queue
	a.queue = nil
	a.mu.Unlock()
	sent := 0
	for i, p := range q {
		if time.Since(p.at) > queueTTL {
			continue
		}
		full, thread := a.ch.route(a.jid, p.to)
		if err := s.write(chatStanza("", full, p.text, thread)); err != nil {
			a.mu.Lock()
			a.queue = append(append([]pending(nil), q[i:]...), a.queue...)
			a.mu.Unlock()
			return
		}
		sent++
	}
	if sent > 0 {
		a.log.Info("xmpp replies queued while offline sent", "count", sent)
	}
}
