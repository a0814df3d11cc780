package xmpp

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
)

// component keeps one XEP-0114 link up: it owns the runner goroutine and,
// while connected, one compConn.
type component struct {
	ch   *Channel
	cfg  Component
	log  *slog.Logger
	done chan struct{}

	mu    sync.Mutex
	link  linkState
	conn  *compConn
	queue []pending // replies (from -> to) waiting for the link
}

type compConn struct {
	conn   net.Conn
	dec    *xml.Decoder
	wmu    sync.Mutex
	closed bool
}

// whitespaceEvery is how often an idle component link sends a space, so
// that a dead TCP connection is noticed by a failing write.
const whitespaceEvery = 60 * time.Second

func (k *component) setState(s linkState) {
	k.mu.Lock()
	k.link = s
	k.mu.Unlock()
}

func (k *component) state() linkState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.link
}

func (k *component) run(ctx context.Context) {
	defer close(k.done)
	keepUp(ctx, k.ch, link[*compConn]{
		what:    "component",
		log:     k.log,
		set:     k.setState,
		connect: k.connect,
		abort: func(cc *compConn, _ error) {
			if cc != nil {
				cc.conn.Close()
			}
		},
		serve: k.serve,
		up:    func(*compConn) []any { return []any{"server", k.cfg.Server} },
	})
}

// handshakeDigest is XEP-0114's hex(sha1(streamID + secret)).
func handshakeDigest(id, secret string) string {
	sum := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(sum[:])
}

func (k *component) connect(ctx context.Context) (*compConn, error) {
	conn, err := dialTCP(ctx, k.cfg.Server)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(loginTimeout))
	header := "<?xml version='1.0'?><stream:stream xmlns='" + nsAccept +
		"' xmlns:stream='" + nsStream + "' to='" + esc(k.cfg.Domain) + "'>"
	if _, err := io.WriteString(conn, header); err != nil {
		conn.Close()
		return nil, &linkError{why: whyLost, err: err}
	}
	dec := streamDecoder(conn)
	st, err := streamStart(dec)
	if err != nil {
		conn.Close()
		return nil, err
	}
	id := ""
	for _, a := range st.Attr {
		if a.Name.Local == "id" {
			id = a.Value
		}
	}
	if id == "" {
		// The server may have answered with a stream error at once.
		if se, err := nextElement(dec); err == nil {
			if err := asStreamError(dec, se); err != nil {
				conn.Close()
				return nil, k.handshakeError(err)
			}
		}
		conn.Close()
		return nil, &linkError{why: whyProtocol, err: errors.New("the server's stream header has no id (is it a component port?)")}
	}
	if _, err := io.WriteString(conn, "<handshake>"+handshakeDigest(id, k.cfg.Secret)+"</handshake>"); err != nil {
		conn.Close()
		return nil, &linkError{why: whyLost, err: err}
	}
	se, err := nextElement(dec)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := asStreamError(dec, se); err != nil {
		conn.Close()
		return nil, k.handshakeError(err)
	}
	if se.Name.Local != "handshake" {
		conn.Close()
		return nil, &linkError{why: whyProtocol, err: fmt.Errorf("expected <handshake/>, got <%s>", se.Name.Local)}
	}
	if err := dec.Skip(); err != nil {
		conn.Close()
		return nil, classify(whyLost, readErr(err))
	}
	_ = conn.SetDeadline(time.Time{})
	return &compConn{conn: conn, dec: dec}, nil
}

func (k *component) handshakeError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "<not-authorized/>"):
		return &linkError{why: whySecret, err: fmt.Errorf("the server refused the component secret for %s (%s)", k.cfg.Domain, msg)}
	case strings.Contains(msg, "<conflict/>"):
		return &linkError{why: whyProtocol, err: fmt.Errorf("another component is connected as %s (%s)", k.cfg.Domain, msg)}
	case strings.Contains(msg, "<host-unknown/>"):
		return &linkError{why: whyProtocol, err: fmt.Errorf("the server has no component %s configured (%s)", k.cfg.Domain, msg)}
	}
	return err
}

func (cc *compConn) write(s string) error {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	if cc.closed {
		return errSessionClosed
	}
	_ = cc.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := io.WriteString(cc.conn, s); err != nil {
		cc.closed = true
		cc.conn.Close()
		return err
	}
	return nil
}

func (cc *compConn) goodbye() {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	if cc.closed {
		return
	}
	cc.closed = true
	_ = cc.conn.SetWriteDeadline(time.Now().Add(goodbyeWait))
	_, _ = io.WriteString(cc.conn, "</stream:stream>")
}

func (k *component) serve(ctx context.Context, cc *compConn) error {
	k.mu.Lock()
	k.conn = cc
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		if k.conn == cc {
			k.conn = nil
		}
		k.mu.Unlock()
	}()
	k.flush(cc)
	errc := make(chan error, 1)
	go func() { errc <- k.readLoop(ctx, cc) }()
	tick := time.NewTicker(whitespaceEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			cc.wmu.Lock()
			cc.closed = true
			cc.wmu.Unlock()
			cc.conn.Close()
			return classify(whyLost, err)
		case <-tick.C:
			_ = cc.write(" ")
		case <-ctx.Done():
			cc.goodbye()
			t := time.NewTimer(goodbyeWait)
			select {
			case <-errc:
				t.Stop()
			case <-t.C:
				cc.conn.Close()
				<-errc
			}
			cc.conn.Close()
			k.log.Info("xmpp component disconnected")
			return ctx.Err()
		}
	}
}

// compStanza is what we read of a stanza sent to the component.
type compStanza struct {
	XMLName xml.Name
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	Type    string   `xml:"type,attr"`
	ID      string   `xml:"id,attr"`
	Bodies  []string `xml:"body"`
	Thread  string   `xml:"thread"`
	Nick    string   `xml:"http://jabber.org/protocol/nick nick"`
	Delay   *struct {
		Stamp string `xml:"stamp,attr"`
	} `xml:"urn:xmpp:delay delay"`
	Children []struct{ XMLName xml.Name } `xml:",any"`
}

func (k *component) readLoop(ctx context.Context, cc *compConn) error {
	for {
		se, err := nextElement(cc.dec)
		if err != nil {
			return err
		}
		if err := asStreamError(cc.dec, se); err != nil {
			return err
		}
		switch se.Name.Local {
		case "message", "presence", "iq":
		default:
			if err := cc.dec.Skip(); err != nil {
				return readErr(err)
			}
			continue
		}
		var st compStanza
		if err := cc.dec.DecodeElement(&st, &se); err != nil {
			return readErr(err)
		}
		k.handle(ctx, cc, &st)
	}
}

// bound reports whether an app answers at jid (a normalised bare JID in
// our domain).
func (k *component) bound(ctx context.Context, jid, remote string) (bool, error) {
	if k.ch.threads.Lookup(addr(jid), addr(remote)) != nil {
		return true, nil
	}
	if k.ch.cfg.Resolve == nil {
		return true, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return k.ch.cfg.Resolve(rctx, addr(jid))
}

func (k *component) handle(ctx context.Context, cc *compConn, st *compStanza) {
	if st.Type == "error" || st.From == "" {
		return
	}
	toBare, _ := splitJID(st.To)
	local, err := channels.Normalize(channels.XMPP, toBare)
	if err != nil || domainOf(local) != k.cfg.Domain {
		return
	}
	fromBare, _ := splitJID(st.From)
	remote, err := channels.Normalize(channels.XMPP, fromBare)
	if err != nil {
		return
	}
	switch st.XMLName.Local {
	case "message":
		k.onMessage(ctx, cc, st, local, remote)
	case "presence":
		k.onPresence(ctx, cc, st, local, remote)
	case "iq":
		k.onIQ(ctx, cc, st, local, remote)
	}
}

func (k *component) onMessage(ctx context.Context, cc *compConn, st *compStanza, local, remote string) {
	switch st.Type {
	case "chat", "normal", "":
	default:
		return
	}
	body := ""
	for _, b := range st.Bodies {
		if b != "" {
			body = b
			break
		}
	}
	if body == "" {
		return
	}
	bounce := func(typ, cond, text string) {
		_ = cc.write(errorStanza("message", st.To, st.From, st.ID, typ, cond, text))
	}
	if localOf(local) == "" {
		bounce("cancel", "service-unavailable", "write to <app>@"+k.cfg.Domain)
		return
	}
	ok, err := k.bound(ctx, local, remote)
	if err != nil {
		k.log.Error("xmpp component: cannot check the address", "address", local, "err", err)
		bounce("wait", "internal-server-error", "try again shortly")
		return
	}
	if !ok {
		k.log.Info("xmpp message to an address no app is bound to", "address", local, "remote", remote)
		bounce("cancel", "service-unavailable", "no app answers at "+local)
		return
	}
	in := inbound{local: local, full: st.From, text: body, thread: st.Thread, nick: cut(strings.TrimSpace(st.Nick), 256)}
	if st.Delay != nil {
		in.stamp, _ = time.Parse(time.RFC3339, st.Delay.Stamp)
	}
	k.ch.receive(in, bounce)
}

func (k *component) onPresence(ctx context.Context, cc *compConn, st *compStanza, local, remote string) {
	switch st.Type {
	case "subscribe", "probe":
	default:
		return
	}
	if localOf(local) == "" {
		return
	}
	ok, err := k.bound(ctx, local, remote)
	if err != nil {
		return
	}
	if !ok {
		if st.Type == "subscribe" {
			_ = cc.write(presenceStanza(local, remote, "unsubscribed"))
		}
		return
	}
	if st.Type == "subscribe" {
		_ = cc.write(presenceStanza(local, remote, "subscribed"))
		k.log.Info("xmpp subscription approved", "address", local, "remote", remote)
	}
	_ = cc.write(presenceStanza(local, remote, ""))
}

func (k *component) onIQ(ctx context.Context, cc *compConn, st *compStanza, local, remote string) {
	if st.Type != "get" && st.Type != "set" {
		return
	}
	var child xml.Name
	if len(st.Children) > 0 {
		child = st.Children[0].XMLName
	}
	fail := func(cond string) {
		_ = cc.write(errorStanza("iq", st.To, st.From, st.ID, "cancel", cond, ""))
	}
	if localOf(local) != "" {
		ok, err := k.bound(ctx, local, remote)
		if err != nil || !ok {
			fail("service-unavailable")
			return
		}
	}
	switch {
	case st.Type == "get" && child.Space == nsPing:
		_ = cc.write(iqResult(st.To, st.From, st.ID, ""))
	case st.Type == "get" && child.Space == nsDiscoInf:
		ident := "<identity category='component' type='generic' name='Chorus'/>"
		if localOf(local) != "" {
			ident = "<identity category='client' type='bot' name='" + esc(localOf(local)) + "'/>"
		}
		_ = cc.write(iqResult(st.To, st.From, st.ID, "<query xmlns='"+nsDiscoInf+"'>"+ident+
			"<feature var='"+nsDiscoInf+"'/><feature var='"+nsPing+"'/></query>"))
	default:
		fail("service-unavailable")
	}
}

// send delivers a reply from one of the domain's JIDs, or queues it while
// the link is down.
func (k *component) send(from, to, text string) error {
	k.mu.Lock()
	cc := k.conn
	if cc == nil {
		err := k.enqueueLocked(from, to, text)
		k.mu.Unlock()
		return err
	}
	k.mu.Unlock()
	full, thread := k.ch.route(from, to)
	if err := cc.write(chatStanza(from, full, text, thread)); err != nil {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.enqueueLocked(from, to, text)
	}
	return nil
}

func (k *component) enqueueLocked(from, to, text string) error {
	now := time.Now()
	q := k.queue[:0]
	for _, p := range k.queue {
		if now.Sub(p.at) < queueTTL {
			q = append(q, p)
		}
	}
	k.queue = q
	if len(k.queue) >= maxQueued*10 {
		return fmt.Errorf("xmpp: component %s is offline (%s) and %d replies already wait: %w", k.cfg.Domain, k.link.detail, len(k.queue), errOffline)
	}
	k.queue = append(k.queue, pending{from: from, to: to, text: text, at: now})
	return nil
}

func (k *component) flush(cc *compConn) {
	k.mu.Lock()
	q := k.queue
	k.queue = nil
	k.mu.Unlock()
	sent := 0
	for i, p := range q {
		if time.Since(p.at) > queueTTL {
			continue
		}
		full, thread := k.ch.route(p.from, p.to)
		if err := cc.write(chatStanza(p.from, full, p.text, thread)); err != nil {
			k.mu.Lock()
			k.queue = append(append([]pending(nil), q[i:]...), k.queue...)
			k.mu.Unlock()
			return
		}
		sent++
	}
	if sent > 0 {
		k.log.Info("xmpp replies queued while the link was down sent", "count", sent)
	}
}
