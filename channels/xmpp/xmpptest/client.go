package xmpptest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goxmpp "github.com/xmppo/go-xmpp"
)

// Client is a person: a real XMPP client (go-xmpp) logged in as a JID,
// plain TCP (the test servers allow it). Its reader goroutine queues what
// arrives; Next, NextError and NextPresence take from the queues.
type Client struct {
	JID string // bare JID
	cl  *goxmpp.Client

	msgs     chan Message
	errs     chan Message
	presence chan Presence
	done     chan struct{} // closed when the reader ends
	readErr  error

	wmu       sync.Mutex
	closeOnce sync.Once

	pmu     sync.Mutex
	backlog []Presence // received, not yet asked for
}

// Message is a message the client received.
type Message struct {
	From, Type, Text, Thread string
	// Condition is the error condition of a type="error" message
	// ("service-unavailable", ...).
	Condition string
	Delayed   bool // it came from offline storage (XEP-0203 delay)
}

// Presence is a presence the client received.
type Presence struct{ From, Type string }

// ErrClosed is returned by Next after the connection ended.
var ErrClosed = errors.New("xmpptest: the client's connection ended")

// Dial logs in as jid with password through the server at addr
// ("127.0.0.1:port") and sends initial presence. It fails the test when
// the login does not succeed within 15 s. t.Cleanup closes it.
func Dial(t testing.TB, addr, jid, password string) *Client {
	t.Helper()
	c, err := DialErr(addr, jid, password)
	if err != nil {
		t.Fatalf("xmpptest: log in as %s at %s: %v", jid, addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// DialErr is Dial returning the error (for benchmarks and retries).
func DialErr(addr, jid, password string) (*Client, error) {
	opts := goxmpp.Options{
		Host:                         addr,
		User:                         jid,
		Password:                     password,
		NoTLS:                        true,
		InsecureAllowUnencryptedAuth: true,
		DialTimeout:                  5 * time.Second,
		Resource:                     "xmpptest-" + randHex(4),
		Status:                       "chat",
	}
	type result struct {
		cl  *goxmpp.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		cl, err := opts.NewClient()
		ch <- result{cl, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(15 * time.Second):
		return nil, errors.New("login did not finish within 15 s")
	}
	if r.err != nil {
		return nil, r.err
	}
	bare, _, _ := strings.Cut(jid, "/")
	c := &Client{
		JID:      strings.ToLower(bare),
		cl:       r.cl,
		msgs:     make(chan Message, 4096),
		errs:     make(chan Message, 256),
		presence: make(chan Presence, 256),
		done:     make(chan struct{}),
	}
	go c.read()
	// Like every real client, fetch the roster: the server then counts this
	// resource as "interested" and sends it subscription approvals and
	// roster pushes.
	c.wmu.Lock()
	err := c.cl.Roster()
	c.wmu.Unlock()
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		st, err := c.cl.Recv()
		if err != nil {
			c.readErr = err
			return
		}
		switch v := st.(type) {
		case goxmpp.Chat:
			m := Message{From: v.Remote, Type: v.Type, Text: v.Text, Thread: v.Thread, Delayed: !v.Stamp.IsZero()}
			switch {
			case v.Type == "error":
				m.Condition = errorCondition(v.OtherElem)
				select {
				case c.errs <- m:
				default:
				}
			case v.Type == "roster" || v.Text == "":
			default:
				select {
				case c.msgs <- m:
				default:
				}
			}
		case goxmpp.Presence:
			select {
			case c.presence <- Presence{From: v.From, Type: v.Type}:
			default:
			}
			if v.Type == "subscribe" { // people approve bots that ask
				c.wmu.Lock()
				c.cl.ApproveSubscription(v.From)
				c.wmu.Unlock()
			}
		case goxmpp.IQ:
			if v.Type == "set" && strings.Contains(string(v.Query), "jabber:iq:roster") {
				c.wmu.Lock()
				_, _ = c.cl.SendOrg(fmt.Sprintf("<iq type='result' id='%s'/>", xmlEscape(v.ID)))
				c.wmu.Unlock()
			}
		}
	}
}

func errorCondition(els []goxmpp.XMLElement) string {
	for _, e := range els {
		if e.XMLName.Local != "error" {
			continue
		}
		d := xml.NewDecoder(strings.NewReader(e.InnerXML))
		for {
			tok, err := d.Token()
			if err != nil {
				return "error"
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local != "text" {
				return se.Name.Local
			}
		}
	}
	return ""
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Send sends a chat message with body text to a JID.
func (c *Client) Send(to, text string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.cl.Send(goxmpp.Chat{Remote: to, Type: "chat", Text: text})
	return err
}

// SendThread sends a chat message with a <thread>.
func (c *Client) SendThread(to, text, thread string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.cl.Send(goxmpp.Chat{Remote: to, Type: "chat", Text: text, Thread: thread})
	return err
}

// SendRaw writes a raw stanza.
func (c *Client) SendRaw(stanza string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.cl.SendOrg(stanza)
	return err
}

// Subscribe asks to see to's presence (a presence subscription request).
func (c *Client) Subscribe(to string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.cl.RequestSubscription(to)
}

// Next returns the next chat message's sender (full JID) and body.
func (c *Client) Next(ctx context.Context) (from, text string, err error) {
	m, err := c.NextMessage(ctx)
	return m.From, m.Text, err
}

// NextMessage returns the next message with a body (not an error).
func (c *Client) NextMessage(ctx context.Context) (Message, error) {
	select {
	case m := <-c.msgs:
		return m, nil
	default:
	}
	select {
	case m := <-c.msgs:
		return m, nil
	case <-ctx.Done():
		return Message{}, fmt.Errorf("xmpptest: %s waited for a message: %w", c.JID, ctx.Err())
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m, nil
		default:
		}
		return Message{}, fmt.Errorf("%w: %v", ErrClosed, c.readErr)
	}
}

// NextError returns the next error message.
func (c *Client) NextError(ctx context.Context) (Message, error) {
	select {
	case m := <-c.errs:
		return m, nil
	case <-ctx.Done():
		return Message{}, fmt.Errorf("xmpptest: %s waited for an error: %w", c.JID, ctx.Err())
	}
}

// NextPresence returns the next presence of type typ ("" for available)
// from the bare JID from. Presences of other types or senders stay queued
// for later calls.
func (c *Client) NextPresence(ctx context.Context, from, typ string) (Presence, error) {
	match := func(p Presence) bool {
		bare, _, _ := strings.Cut(p.From, "/")
		return strings.EqualFold(bare, from) && p.Type == typ
	}
	c.pmu.Lock()
	for i, p := range c.backlog {
		if match(p) {
			c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
			c.pmu.Unlock()
			return p, nil
		}
	}
	c.pmu.Unlock()
	for {
		select {
		case p := <-c.presence:
			if match(p) {
				return p, nil
			}
			c.pmu.Lock()
			if len(c.backlog) < 1024 {
				c.backlog = append(c.backlog, p)
			}
			c.pmu.Unlock()
		case <-ctx.Done():
			return Presence{}, fmt.Errorf("xmpptest: %s waited for presence %q from %s: %w", c.JID, typ, from, ctx.Err())
		}
	}
}

// Close logs out (unavailable presence, </stream:stream>) and waits up to
// 5 s for the server to close the stream.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		_, _ = c.cl.SendOrg("<presence type='unavailable'/>")
		_, _ = c.cl.SendOrg("</stream:stream>")
		c.wmu.Unlock()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			return
		}
		// The reader has ended: go-xmpp's Close now only closes the
		// socket, except after a parse error, where its decoder lock stays
		// taken; do not wait for it then.
		closed := make(chan struct{})
		go func() { _ = c.cl.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(time.Second):
		}
	})
}
