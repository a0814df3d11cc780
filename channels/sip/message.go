package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/thread"
)

// maxMessage bounds the text of a SIP MESSAGE (RFC 3428 recommends 1300
// bytes over UDP; TCP may carry more).
const maxMessage = 16 << 10

// onMessage takes a SIP MESSAGE (RFC 3428): text to an app's conversation.
func (c *Channel) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	if c.isClosed() {
		respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	local, err := c.localAddress(context.Background(), req.Recipient)
	if err != nil {
		c.failLookup(req, tx, err)
		return
	}
	ct := "text/plain"
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(strings.SplitN(h.Value(), ";", 2)[0]))
	}
	if ct != "text/plain" {
		respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "text/plain"))
		return
	}
	body := req.Body()
	if len(body) > maxMessage {
		respond(tx, req, 413, "Request Entity Too Large")
		return
	}
	if !utf8.Valid(body) {
		respond(tx, req, 400, "Bad Request")
		return
	}
	remote, name, ruri := remoteAddress(req)
	c.routes.put(local.ID, remote.ID, route{uri: ruri, source: req.Source(), transport: req.Transport(), callID: callID(req), at: time.Now()})
	_, _, err = c.threads.Deliver(channels.Message{
		From:    remote,
		To:      local,
		Text:    strings.TrimRight(string(body), "\r\n"), // a line end many UAs add
		Name:    name,
		Headers: headersOf(req),
		At:      time.Now(),
	})
	switch {
	case errors.Is(err, channels.ErrQueueFull), errors.Is(err, thread.ErrCapacity):
		respond(tx, req, 486, "Busy Here", sip.NewHeader("Retry-After", "5"))
	case errors.Is(err, channels.ErrUnavailable):
		respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
	case err != nil:
		c.log.Warn("sip: MESSAGE not delivered", "from", remote.ID, "to", local.ID, "err", err)
		respond(tx, req, 500, "Server Internal Error")
	default:
		respond(tx, req, 200, "OK")
	}
}

// SendMessage sends m as a SIP MESSAGE outside any conversation (message()):
// m.From is our address, m.To a SIP URI or an address we heard from.
func (c *Channel) SendMessage(ctx context.Context, m channels.Message) error {
	if m.From.ID == "" {
		return fmt.Errorf("sip: the app has no sip address to send from: %w", channels.ErrNoRoute)
	}
	return c.sendMessage(ctx, m)
}

// sendMessage is the threads' Send: an app's text as MESSAGE to m.To.
func (c *Channel) sendMessage(ctx context.Context, m channels.Message) error {
	if c.isClosed() && c.threads.Live() == 0 {
		return channels.ErrUnavailable
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	local, err := channels.Normalize(channels.SIP, m.From.ID)
	if err != nil {
		return fmt.Errorf("sip: send from %q: %w", m.From.ID, channels.ErrNoRoute)
	}
	if channels.IsNumber(local) {
		local = "sip:" + local + "@" + c.cfg.Domain
	}
	remote, err := channels.Normalize(channels.SIP, m.To.ID)
	if err != nil {
		return fmt.Errorf("sip: send to %q: %w", m.To.ID, err)
	}
	rt, known := c.routes.get(local, remote)
	var uri sip.Uri
	if known {
		if err := sip.ParseUri(rt.uri, &uri); err != nil {
			known = false
		}
	}
	if !known {
		uri, err = c.targetURI(m.To.ID)
		if err != nil {
			return fmt.Errorf("sip: send to %q: %w", m.To.ID, err)
		}
		rt.transport = "udp"
		if tr, _ := uri.UriParams.Get("transport"); strings.EqualFold(tr, "tcp") {
			rt.transport = "tcp"
		}
	}
	text := m.Text
	if len(text) > maxMessage {
		text = text[:maxMessage]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	req := sip.NewRequest(sip.MESSAGE, uri)
	req.SetTransport(strings.ToUpper(rt.transport))
	user := channels.SIPUser(local)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: c.cfg.Domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: uri.Scheme, User: uri.User, Host: uri.Host, Port: uri.Port}}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
	req.SetBody([]byte(text))
	if known && rt.callID != "" {
		// Replies share the Call-ID of the person's last MESSAGE: simple
		// UAs (and sipp) thread pager-mode messages by Call-ID.
		id := sip.CallIDHeader(rt.callID)
		req.AppendHeader(&id)
	}
	if known && rt.source != "" {
		// Answer where the request came from (they may sit behind NAT).
		req.SetDestination(rt.source)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := c.client(rt.transport).Do(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: MESSAGE to %s: %w", uri.String(), err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("sip: MESSAGE to %s: %d %s", uri.String(), res.StatusCode, res.Reason)
	}
	return nil
}

// route is how to reach someone who wrote to one of our addresses.
type route struct {
	uri       string // their From URI as sent (with port)
	source    string // host:port the request came from
	transport string
	callID    string // of their last MESSAGE: replies reuse it (pager-mode threading)
	at        time.Time
}

// routeCache remembers routes, bounded.
type routeCache struct {
	mu  sync.Mutex
	max int
	m   map[[2]string]route
}

func newRouteCache(max int) *routeCache {
	return &routeCache{max: max, m: map[[2]string]route{}}
}

func (r *routeCache) put(local, remote string, rt route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[[2]string{local, remote}]; !ok && len(r.m) >= r.max {
		r.evictLocked()
	}
	if _, _, err := net.SplitHostPort(rt.source); err != nil {
		rt.source = ""
	}
	r.m[[2]string{local, remote}] = rt
}

func (r *routeCache) get(local, remote string) (route, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.m[[2]string{local, remote}]
	return rt, ok
}

// evictLocked drops the oldest entry.
func (r *routeCache) evictLocked() {
	var oldest [2]string
	var at time.Time
	for k, v := range r.m {
		if at.IsZero() || v.at.Before(at) {
			oldest, at = k, v.at
		}
	}
	delete(r.m, oldest)
}

// sweep forgets routes older than a day.
func (r *routeCache) sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.m {
		if now.Sub(v.at) > 24*time.Hour {
			delete(r.m, k)
		}
	}
}
