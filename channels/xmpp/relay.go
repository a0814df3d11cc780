package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Why a link failed, as State's detail starts. The rest of the detail is
// the error text, which never holds a credential.
const (
	whyUnreachable = "unreachable"
	whyTLS         = "TLS refused"
	whyAuth        = "bad password"
	whySecret      = "bad secret"
	whyProtocol    = "protocol error"
	whyLost        = "connection lost"
	whyHostile     = "connection reset"
)

// linkError is a failed (re)connection, classified for State.
type linkError struct {
	why string
	err error
}

func (e *linkError) Error() string { return e.why + ": " + e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

func classify(why string, err error) error {
	var le *linkError
	if errors.As(err, &le) {
		return err
	}
	var ge *GuardError
	if errors.As(err, &ge) {
		why = whyHostile
	}
	return &linkError{why: why, err: err}
}

// Timeouts of a connection.
const (
	dialTimeout   = 10 * time.Second
	loginTimeout  = 20 * time.Second
	writeTimeout  = 15 * time.Second
	keepAlive     = 15 * time.Second
	goodbyeWait   = 2 * time.Second
	stableAfter   = 10 * time.Second // a link up this long resets the backoff
	relayBufBytes = 32 << 10
)

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &linkError{why: whyUnreachable, err: err}
	}
	return conn, nil
}

// dialServer connects to an XMPP server's c2s port for domain and secures
// the connection with STARTTLS when the server offers it. Without STARTTLS
// it fails unless allowPlain, and then returns a fresh plain connection.
// The returned connection is at the start of a new stream: the caller's
// client opens it.
func dialServer(ctx context.Context, addr, domain string, allowPlain bool, tlsConf *tls.Config) (net.Conn, error) {
	conn, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(loginTimeout))
	offered, err := probeStartTLS(conn, domain)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !offered {
		conn.Close()
		if !allowPlain {
			return nil, &linkError{why: whyTLS, err: fmt.Errorf("%s offers no STARTTLS and plaintext is not allowed (xmpp.allow_plaintext)", addr)}
		}
		return dialTCP(ctx, addr)
	}
	if _, err := io.WriteString(conn, "<starttls xmlns='"+nsTLS+"'/>"); err != nil {
		conn.Close()
		return nil, &linkError{why: whyLost, err: err}
	}
	if err := readProceed(conn); err != nil {
		conn.Close()
		return nil, err
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConf != nil {
		conf = tlsConf.Clone()
	}
	if conf.ServerName == "" {
		conf.ServerName = domain
	}
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &linkError{why: whyTLS, err: fmt.Errorf("TLS handshake with %s: %w", addr, err)}
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

// streamDecoder reads a server's stream through a guard.
func streamDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(&guardReader{r: r, g: newGuard()})
	d.Strict = true
	return d
}

// probeStartTLS opens a stream and reports whether the features offer
// STARTTLS.
func probeStartTLS(conn net.Conn, domain string) (bool, error) {
	header := "<?xml version='1.0'?><stream:stream to='" + esc(domain) +
		"' version='1.0' xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "'>"
	if _, err := io.WriteString(conn, header); err != nil {
		return false, &linkError{why: whyLost, err: err}
	}
	d := streamDecoder(conn)
	if err := expectStreamStart(d); err != nil {
		return false, err
	}
	var f struct {
		XMLName  xml.Name
		StartTLS *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-tls starttls"`
	}
	se, err := nextElement(d)
	if err != nil {
		return false, err
	}
	if err := asStreamError(d, se); err != nil {
		return false, err
	}
	if se.Name.Space != nsStream || se.Name.Local != "features" {
		return false, &linkError{why: whyProtocol, err: fmt.Errorf("expected <stream:features>, got <%s>", se.Name.Local)}
	}
	if err := d.DecodeElement(&f, &se); err != nil {
		return false, classify(whyProtocol, err)
	}
	return f.StartTLS != nil, nil
}

func readProceed(conn net.Conn) error {
	// The decoder reads ahead: but the server sends nothing after <proceed/>
	// until our TLS ClientHello, so nothing is lost. Wrap the conn in a
	// one-byte reader to be sure not a byte of the handshake is consumed.
	d := xml.NewDecoder(&guardReader{r: oneByte{conn}, g: &guard{max: MaxStanza, depth: 1}})
	se, err := nextElement(d)
	if err != nil {
		return err
	}
	switch se.Name.Local {
	case "proceed":
		return nil
	case "failure":
		return &linkError{why: whyTLS, err: errors.New("the server refused STARTTLS (<failure/>)")}
	}
	if err := asStreamError(d, se); err != nil {
		return err
	}
	return &linkError{why: whyProtocol, err: fmt.Errorf("expected <proceed/>, got <%s>", se.Name.Local)}
}

// oneByte reads one byte at a time, so that an xml.Decoder over it never
// reads past the element it decodes.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// expectStreamStart reads up to the server's <stream:stream> and returns
// its id attribute.
func expectStreamStart(d *xml.Decoder) error {
	_, err := streamStart(d)
	return err
}

func streamStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, classify(whyLost, readErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != nsStream || t.Name.Local != "stream" {
				return xml.StartElement{}, &linkError{why: whyProtocol, err: fmt.Errorf("not an XMPP server: it opened with <%s>", t.Name.Local)}
			}
			return t.Copy(), nil
		case xml.Directive:
			return xml.StartElement{}, &linkError{why: whyHostile, err: &GuardError{Reason: "a DOCTYPE declaration (forbidden in XMPP)"}}
		}
	}
}

// nextElement returns the next top-level element's start (inside the
// stream), failing when the stream ends.
func nextElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, classify(whyLost, readErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t.Copy(), nil
		case xml.EndElement:
			return xml.StartElement{}, &linkError{why: whyLost, err: errors.New("the server closed the stream")}
		case xml.Directive:
			return xml.StartElement{}, &linkError{why: whyHostile, err: &GuardError{Reason: "a DOCTYPE declaration (forbidden in XMPP)"}}
		}
	}
}

// readErr turns an XML syntax error into a hostile-input one.
func readErr(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &GuardError{Reason: "malformed XML: " + se.Msg}
	}
	return err
}

// asStreamError turns a <stream:error> into an error, or returns nil.
func asStreamError(d *xml.Decoder, se xml.StartElement) error {
	if se.Name.Space != nsStream || se.Name.Local != "error" {
		return nil
	}
	var e struct {
		Conds []struct{ XMLName xml.Name } `xml:",any"`
		Text  string                       `xml:"urn:ietf:params:xml:ns:xmpp-streams text"`
	}
	if err := d.DecodeElement(&e, &se); err != nil {
		return classify(whyProtocol, readErr(err))
	}
	cond := "undefined-condition"
	for _, c := range e.Conds {
		if c.XMLName.Local != "text" {
			cond = c.XMLName.Local
			break
		}
	}
	msg := "stream error <" + cond + "/>"
	if e.Text != "" {
		msg += ": " + cut(e.Text, 200)
	}
	why := whyProtocol
	switch cond {
	case "not-authorized":
		why = whyAuth
	case "system-shutdown", "connection-timeout", "reset", "see-other-host":
		why = whyLost
	}
	return &linkError{why: why, err: errors.New(msg)}
}

// relay joins a client library's loopback connection (local) to the
// server's (remote). What the server sends passes through a guard; the
// first violation, read error or Close ends both directions.
type relay struct {
	local, remote net.Conn
	lastRead      atomic.Int64 // unix nanos of the last byte from the server

	once sync.Once
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error // why the relay ended first
}

func startRelay(local, remote net.Conn) *relay {
	r := &relay{local: local, remote: remote}
	r.lastRead.Store(time.Now().UnixNano())
	r.wg.Add(2)
	go r.down()
	go r.up()
	return r
}

// down copies server -> client through the guard.
func (r *relay) down() {
	defer r.wg.Done()
	g := newGuard()
	buf := make([]byte, relayBufBytes)
	for {
		n, err := r.remote.Read(buf)
		if n > 0 {
			r.lastRead.Store(time.Now().UnixNano())
			if gerr := g.feed(buf[:n]); gerr != nil {
				r.close(gerr)
				return
			}
			_ = r.local.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, werr := r.local.Write(buf[:n]); werr != nil {
				r.close(fmt.Errorf("relay to client: %w", werr))
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection")
			}
			r.close(err)
			return
		}
	}
}

// up copies client -> server, each write bounded by writeTimeout.
func (r *relay) up() {
	defer r.wg.Done()
	buf := make([]byte, relayBufBytes)
	for {
		n, err := r.local.Read(buf)
		if n > 0 {
			_ = r.remote.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, werr := r.remote.Write(buf[:n]); werr != nil {
				r.close(fmt.Errorf("writing to the server: %w", werr))
				return
			}
		}
		if err != nil {
			r.close(errors.New("client side closed"))
			return
		}
	}
}

func (r *relay) close(why error) {
	r.once.Do(func() {
		r.mu.Lock()
		r.err = why
		r.mu.Unlock()
		r.local.Close()
		r.remote.Close()
	})
}

// cause is why the relay ended (nil while it runs).
func (r *relay) cause() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// wait closes the relay (if it still runs) and waits for both directions.
func (r *relay) shut(why error) {
	r.close(why)
	r.wg.Wait()
}
