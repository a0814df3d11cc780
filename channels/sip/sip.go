package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip/flood"
	"github.com/chorus-dev/chorus/channels/sip/sipcheck"
	"github.com/chorus-dev/chorus/channels/sip/tts"
	"github.com/chorus-dev/chorus/channels/thread"
)

// Config configures the SIP channel.
type Config struct {
	// Handler runs each conversation (the engine). Required.
	Handler channels.Handler
	// NewID makes session ids. Required.
	NewID func() string
	// Listen is the host:port the channel binds on UDP and TCP (default
	// "127.0.0.1:5060"). With port 0 both get the same free port: see Addr.
	Listen string
	// Domain is the host part of the apps' addresses (sip:weather@Domain).
	// Requests reach an app when their Request-URI host is Domain or one of
	// our listen addresses. Default: the listen host.
	Domain string
	// TLSListen, when set, is the host:port of a SIP over TLS listener
	// (RFC 3261 "TLS" transport; port 0 picks a free one, see TLSAddr).
	// TLSConfig (with its Certificates) is then required.
	TLSListen string
	TLSConfig *tls.Config
	// WSListen, when set, is the host:port of a SIP over WebSocket
	// listener (RFC 7118, plain ws:// with the "sip" subprotocol; port 0
	// picks a free one, see WSAddr). Put a TLS-terminating proxy in front
	// for wss://.
	WSListen string
	// RTPPorts bounds the UDP ports of media (inclusive); zero: any free port.
	RTPPorts [2]int
	// TTS speaks Play's text. Without it Play of text fails (URLs still play).
	TTS *tts.Synth
	// RTPTimeout tears a call down when no RTP arrived for this long while
	// the far end should be sending (default 30 s; negative: never).
	RTPTimeout time.Duration
	// RTPLatch turns on symmetric RTP latching ("comedia", for far ends
	// behind NAT whose SDP names an address they cannot be reached on):
	// the first source that sends RTP to a call after each offer/answer
	// becomes its far end; our RTP goes there and other sources are
	// dropped. Off (the default), only RTP from the address in the far
	// end's SDP is heard (DTMF, recording, bridging, the RTP timeout).
	RTPLatch bool
	// Resolve reports whether an app is bound to a sip address. Nil: every
	// address on our domain is served.
	Resolve func(ctx context.Context, a channels.Address) (bool, error)
	// SaveRecording stores a finished recording (a WAV file) and returns
	// the URI the app sees. Without it Record fails.
	SaveRecording func(ctx context.Context, sessionID string, wav []byte) (uri string, err error)
	// Flood, when set, rate-limits requests that start something (new
	// calls, OPTIONS, MESSAGE...) per source address: over the rate they
	// get 503 with Retry-After, banned sources are dropped unanswered.
	// The channel sweeps it every 10 s.
	Flood *flood.Limiter
	// UserAgent is the User-Agent/Server header value (default "chorus").
	UserAgent string
	Logger    *slog.Logger
}

// Channel is the SIP channel: calls (INVITE) and text (MESSAGE).
type Channel struct {
	cfg Config
	log *slog.Logger

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cliUDP  *sipgo.Client
	cliTCP  *sipgo.Client
	cliTLS  *sipgo.Client // nil without TLSListen
	cliWS   *sipgo.Client // nil without WSListen
	udp     *net.UDPConn
	tcp     *net.TCPListener
	tlsLn   net.Listener   // nil without TLSListen
	wsLn    net.Listener   // nil without WSListen
	addr    netip.AddrPort // bound address (UDP and TCP share the port)
	tlsAddr netip.AddrPort
	wsAddr  netip.AddrPort
	ip      netip.Addr // advertised in Contact and SDP

	threads *thread.Threads
	routes  *routeCache
	pacer   *pacer

	base     context.Context // ends every call at Shutdown
	stopBase context.CancelCauseFunc

	mu      sync.Mutex
	calls   map[string]*call // by dialog id
	closed  bool
	wg      sync.WaitGroup // inbound call handlers
	drained chan struct{}

	badResponses atomic.Int64 // malformed responses dropped (the first is logged)

	stopServe chan struct{} // closed at the end of Shutdown
	serveOnce sync.Once
	served    chan struct{}
	ready     chan struct{} // closed once sipgo serves our UDP socket
}

// New binds the listen address (UDP and TCP) and returns the channel;
// Serve starts answering.
func New(cfg Config) (*Channel, error) {
	if cfg.Handler == nil || cfg.NewID == nil {
		return nil, errors.New("sip: Handler and NewID are required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:5060"
	}
	if cfg.RTPTimeout == 0 {
		cfg.RTPTimeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "chorus"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ap, err := netip.ParseAddrPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen address %q: want ip:port (e.g. 127.0.0.1:5060): %w", cfg.Listen, err)
	}
	if cfg.TLSListen != "" && (cfg.TLSConfig == nil || len(cfg.TLSConfig.Certificates) == 0 && cfg.TLSConfig.GetCertificate == nil) {
		return nil, errors.New("sip: TLSListen needs a TLSConfig with a certificate (set sip.tls_cert and sip.tls_key)")
	}
	udp, tcp, err := listenBoth(ap)
	if err != nil {
		return nil, err
	}
	var tlsLn, wsLn net.Listener
	closeAll := func() {
		udp.Close()
		tcp.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		if wsLn != nil {
			wsLn.Close()
		}
	}
	if cfg.TLSListen != "" {
		l, err := listenTCP("tls", cfg.TLSListen)
		if err != nil {
			closeAll()
			return nil, err
		}
		tlsLn = tls.NewListener(l, cfg.TLSConfig)
	}
	if cfg.WSListen != "" {
		if wsLn, err = listenTCP("ws", cfg.WSListen); err != nil {
			closeAll()
			return nil, err
		}
	}
	c := &Channel{
		cfg:       cfg,
		log:       cfg.Logger,
		udp:       udp,
		tcp:       tcp,
		tlsLn:     tlsLn,
		wsLn:      wsLn,
		addr:      netip.AddrPortFrom(ap.Addr().Unmap(), uint16(udp.LocalAddr().(*net.UDPAddr).Port)),
		calls:     map[string]*call{},
		routes:    newRouteCache(4096),
		served:    make(chan struct{}),
		ready:     make(chan struct{}),
		stopServe: make(chan struct{}),
		drained:   make(chan struct{}),
	}
	if tlsLn != nil {
		c.tlsAddr = tlsLn.Addr().(*net.TCPAddr).AddrPort()
		c.tlsAddr = netip.AddrPortFrom(c.tlsAddr.Addr().Unmap(), c.tlsAddr.Port())
	}
	if wsLn != nil {
		c.wsAddr = wsLn.Addr().(*net.TCPAddr).AddrPort()
		c.wsAddr = netip.AddrPortFrom(c.wsAddr.Addr().Unmap(), c.wsAddr.Port())
	}
	c.ip = c.addr.Addr()
	if c.ip.IsUnspecified() {
		c.ip = outboundIP(c.ip.Is6())
	}
	if cfg.Domain == "" {
		c.cfg.Domain = c.ip.String()
	}
	c.cfg.Domain = strings.ToLower(c.cfg.Domain)
	c.base, c.stopBase = context.WithCancelCause(context.Background())
	c.pacer = newPacer()

	host := c.ip.String()
	c.ua, err = sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(c.cfg.Domain),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(c.readFilter)))
	if err == nil {
		c.srv, err = sipgo.NewServer(c.ua, sipgo.WithServerLogger(c.log))
	}
	if err == nil {
		c.cliUDP, err = sipgo.NewClient(c.ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(int(c.addr.Port())),
			sipgo.WithClientConnectionAddr(netip.AddrPortFrom(c.ip, c.addr.Port()).String()), sipgo.WithClientLogger(c.log))
	}
	if err == nil {
		c.cliTCP, err = sipgo.NewClient(c.ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(int(c.addr.Port())), sipgo.WithClientLogger(c.log))
	}
	if err == nil && tlsLn != nil {
		c.cliTLS, err = sipgo.NewClient(c.ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(int(c.tlsAddr.Port())), sipgo.WithClientLogger(c.log))
	}
	if err == nil && wsLn != nil {
		c.cliWS, err = sipgo.NewClient(c.ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(int(c.wsAddr.Port())), sipgo.WithClientLogger(c.log))
	}
	if err != nil {
		closeAll()
		c.pacer.close()
		return nil, fmt.Errorf("sip: starting the SIP stack: %w", err)
	}
	th, err := thread.New(thread.Config{Handler: cfg.Handler, Send: c.sendMessage, NewID: cfg.NewID, Logger: c.log})
	if err != nil {
		closeAll()
		c.pacer.close()
		return nil, err
	}
	c.threads = th
	c.routeHandlers()
	return c, nil
}

// listenBoth binds UDP and TCP on the same port (a free one for port 0).
func listenBoth(ap netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	var last error
	for try := 0; try < 20; try++ {
		udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, nil, fmt.Errorf("sip: listen udp %s: %w (is another SIP server running there?)", ap, err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), uint16(port))))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		last = err
		if ap.Port() != 0 {
			break
		}
	}
	return nil, nil, fmt.Errorf("sip: listen tcp %s: %w (is another SIP server running there?)", ap, last)
}

// listenTCP binds a TCP listener for the TLS or WebSocket transport.
func listenTCP(what, hostport string) (*net.TCPListener, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("sip: %s listen address %q: want ip:port (e.g. 127.0.0.1:5061): %w", what, hostport, err)
	}
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("sip: listen %s %s: %w (is another server running there?)", what, ap, err)
	}
	return l, nil
}

// outboundIP is the address other hosts reach us on when we listen on all
// interfaces: the one the default route uses (no packet is sent).
func outboundIP(v6 bool) netip.Addr {
	network, target := "udp4", "192.0.2.1:9"
	if v6 {
		network, target = "udp6", "[2001:db8::1]:9"
	}
	if c, err := net.Dial(network, target); err == nil {
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	}
	if v6 {
		return netip.IPv6Loopback()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// Network is channels.SIP.
func (c *Channel) Network() channels.Network { return channels.SIP }

// Addr is the bound address (UDP and TCP use the same port).
func (c *Channel) Addr() netip.AddrPort { return c.addr }

// TLSAddr is the bound address of the TLS listener (invalid without TLSListen).
func (c *Channel) TLSAddr() netip.AddrPort { return c.tlsAddr }

// WSAddr is the bound address of the WebSocket listener (invalid without WSListen).
func (c *Channel) WSAddr() netip.AddrPort { return c.wsAddr }

// Domain is the host part of our addresses.
func (c *Channel) Domain() string { return c.cfg.Domain }

// Threads exposes the text conversations (SIP MESSAGE).
func (c *Channel) Threads() *thread.Threads { return c.threads }

// Serve answers SIP until ctx is done or Shutdown is called.
func (c *Channel) Serve(ctx context.Context) error {
	started := false
	c.serveOnce.Do(func() { started = true })
	if !started {
		return errors.New("sip: Serve called twice")
	}
	defer close(c.served)
	errc := make(chan error, 4)
	go func() { errc <- c.srv.ServeUDP(c.udp) }()
	go func() { errc <- c.srv.ServeTCP(c.tcp) }()
	attrs := []any{"udp", c.addr.String(), "tcp", c.addr.String()}
	if c.tlsLn != nil {
		go func() { errc <- c.srv.ServeTLS(c.tlsLn) }()
		attrs = append(attrs, "tls", c.tlsAddr.String())
	}
	if c.wsLn != nil {
		go func() { errc <- c.srv.ServeWS(c.wsLn) }()
		attrs = append(attrs, "ws", c.wsAddr.String())
	}
	go c.markReady(ctx)
	c.log.Info("sip: listening", append(attrs, "domain", c.cfg.Domain)...)
	sweep := time.NewTicker(10 * time.Second)
	defer sweep.Stop()
	lastRoutes := time.Now()
	var err error
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-c.stopServe: // after Shutdown sent its last BYEs
			done = true
		case e := <-errc:
			if !c.isClosed() {
				err = fmt.Errorf("sip: listener failed: %w", e)
			}
			done = true
		case now := <-sweep.C:
			if c.cfg.Flood != nil {
				c.cfg.Flood.Sweep(now)
			}
			if now.Sub(lastRoutes) > time.Minute {
				c.routes.sweep(now)
				lastRoutes = now
			}
		}
	}
	c.closeListeners()
	return err
}

func (c *Channel) closeListeners() {
	c.udp.Close()
	c.tcp.Close()
	if c.tlsLn != nil {
		c.tlsLn.Close()
	}
	if c.wsLn != nil {
		c.wsLn.Close()
	}
}

// markReady closes c.ready once sipgo serves the UDP socket (requests sent
// before would try to bind our port again).
func (c *Channel) markReady(ctx context.Context) {
	hp := netip.AddrPortFrom(c.ip, c.addr.Port()).String()
	if c.addr.Addr().IsUnspecified() {
		hp = c.addr.String()
	}
	for i := 0; i < 5000; i++ {
		if conn, _ := c.ua.TransportLayer().GetConnection("udp", hp); conn != nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Millisecond):
		}
	}
	close(c.ready)
}

// waitReady waits for Serve to be serving (for requests we send).
func (c *Channel) waitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sip: the channel is not serving yet: %w", channels.ErrUnavailable)
	}
}

func (c *Channel) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Shutdown stops taking calls and messages, waits for live calls to end
// until ctx is done, then hangs up (BYE) the rest and closes the stack.
func (c *Channel) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if already {
		return nil
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	terr := c.threads.Shutdown(ctx)
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		// End what is left: handlers see ErrShutdown and the call gets BYE.
		c.stopBase(channels.ErrShutdown)
		c.mu.Lock()
		for _, k := range c.calls {
			k.end(channels.ErrShutdown)
		}
		c.mu.Unlock()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.log.Warn("sip: calls still running 5 s after shutdown")
		}
	}
	c.stopBase(channels.ErrShutdown)
	close(c.stopServe)
	c.pacer.close()
	c.ua.Close()
	c.closeListeners()
	return errors.Join(err, terr)
}

// routeHandlers registers the request handlers, each behind guard.
func (c *Channel) routeHandlers() {
	c.srv.OnInvite(c.guard(c.onInvite))
	c.srv.OnAck(c.guard(c.onAck))
	c.srv.OnBye(c.guard(c.onBye))
	c.srv.OnCancel(c.guard(func(req *sip.Request, tx sip.ServerTransaction) {
		// CANCELs matching a pending INVITE never get here: the
		// transaction layer answers them (200, then 487 to the INVITE).
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}))
	c.srv.OnOptions(c.guard(c.onOptions))
	c.srv.OnInfo(c.guard(c.onInfo))
	c.srv.OnMessage(c.guard(c.onMessage))
	c.srv.OnNotify(c.guard(c.onNotify))
	c.srv.OnNoRoute(c.guard(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", allow))
		_ = tx.Respond(res)
	}))
}

const allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, MESSAGE, NOTIFY"

// guard wraps a handler: a panic is logged and answered with 500 instead
// of taking the server down.
func (c *Channel) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if p := recover(); p != nil {
				c.log.Error("sip: panic while handling a request", "method", string(req.Method), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if tx != nil && !req.IsAck() {
					respond(tx, req, 500, "Server Internal Error")
				}
			}
		}()
		if tx == nil && !req.IsAck() {
			return
		}
		if c.cfg.Flood != nil && !c.admit(req, tx) {
			return
		}
		if v := sipcheck.Request(req); !v.OK {
			if v.Drop || req.IsAck() || tx == nil {
				c.log.Debug("sip: malformed request dropped", "remote", req.Source(), "why", v.Reason)
				return
			}
			c.log.Debug("sip: malformed request refused", "remote", req.Source(), "status", v.Status, "why", v.Reason)
			hdrs := make([]sip.Header, 0, len(v.Headers))
			for k, val := range v.Headers {
				hdrs = append(hdrs, sip.NewHeader(k, val))
			}
			respond(tx, req, v.Status, v.Reason, hdrs...)
			return
		}
		h(req, tx)
	}
}

// readFilter sees every datagram (UDP) and frame (WebSocket) before
// sipgo parses it: a response sipcheck.Response refuses (no To/From/
// Call-ID/CSeq/Via, more than one Via, a bad Content-Length, another SIP
// version...) is dropped before it reaches a transaction, so it neither
// completes nor confuses one; the first is logged at Warn, the others at
// Debug. On TCP and TLS sipgo hands the filter raw stream chunks, not
// messages, so those responses go through unchecked.
func (c *Channel) readFilter(info sip.TransportReadProps, data []byte) ([]byte, error) {
	switch info.Transport {
	case "UDP", "WS", "WSS", "udp", "ws", "wss":
	default:
		return data, nil
	}
	if len(data) < 8 || string(data[:4]) != "SIP/" {
		return data, nil // requests are checked in guard
	}
	msg, err := sip.ParseMessage(data)
	if err != nil {
		return data, nil // sipgo refuses it itself
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return data, nil
	}
	if drop, why := sipcheck.Response(res); drop {
		remote := ""
		if info.RemoteAddr != nil {
			remote = info.RemoteAddr.String()
		}
		level := slog.LevelDebug
		if c.badResponses.Add(1) == 1 {
			level = slog.LevelWarn
		}
		c.log.Log(context.Background(), level, "sip: malformed response dropped (further ones are logged at debug level)", "remote", remote, "status", res.StatusCode, "why", why)
		return nil, nil // len 0: sipgo skips it
	}
	return data, nil
}

// admit applies the flood limiter to requests outside a dialog (ACK,
// CANCEL and in-dialog requests of calls already admitted pass).
func (c *Channel) admit(req *sip.Request, tx sip.ServerTransaction) bool {
	if req.IsAck() || req.IsCancel() {
		return true
	}
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok && c.lookupCall(req) != nil {
			return true
		}
	}
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return true
	}
	ok, banned := c.cfg.Flood.Allow(ap.Addr().Unmap())
	switch {
	case ok:
		return true
	case banned:
		c.log.Debug("sip: request from a banned source dropped", "remote", req.Source(), "method", string(req.Method))
	default:
		respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
	}
	return false
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

// ours reports whether host names us: our domain or a listen address.
func (c *Channel) ours(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, c.cfg.Domain) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip == c.addr.Addr() || ip == c.ip || c.tlsAddr.IsValid() && ip == c.tlsAddr.Addr() || c.wsAddr.IsValid() && ip == c.wsAddr.Addr() {
		return true
	}
	if c.addr.Addr().IsUnspecified() {
		if ip.IsLoopback() {
			return true
		}
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// errUnknown: no app at that address.
var errUnknown = errors.New("no app is bound to that address")

// localAddress maps a Request-URI to the app address it reaches.
func (c *Channel) localAddress(ctx context.Context, uri sip.Uri) (channels.Address, error) {
	if uri.User == "" || !c.ours(uri.Host) {
		return channels.Address{}, errUnknown
	}
	id, err := channels.Normalize(channels.SIP, "sip:"+uri.User+"@"+c.cfg.Domain)
	if err != nil {
		return channels.Address{}, errUnknown
	}
	a := channels.Address{Network: channels.SIP, ID: id}
	if c.cfg.Resolve == nil {
		return a, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := c.cfg.Resolve(ctx, a)
	if err != nil {
		return channels.Address{}, fmt.Errorf("sip: resolving %s: %w", a.ID, err)
	}
	if !ok {
		return channels.Address{}, errUnknown
	}
	return a, nil
}

// remoteAddress is the address of the sender of req (its From URI).
func remoteAddress(req *sip.Request) (channels.Address, string, string) {
	f := req.From()
	if f == nil {
		return channels.Address{Network: channels.SIP, ID: "sip:anonymous@anonymous.invalid"}, "", ""
	}
	user := f.Address.User
	if user == "" {
		user = "anonymous"
	}
	id, err := channels.Normalize(channels.SIP, "sip:"+user+"@"+f.Address.Host)
	if err != nil {
		id = "sip:anonymous@anonymous.invalid"
	}
	return channels.Address{Network: channels.SIP, ID: id}, f.DisplayName, f.Address.String()
}

// maxHeaders bounds the headers copied into Info.Headers.
const maxHeaders = 64

// headersOf copies req's headers (repeated ones joined with ", ").
func headersOf(req *sip.Request) map[string]string {
	out := map[string]string{}
	for _, h := range req.Headers() {
		if len(out) >= maxHeaders {
			break
		}
		name := canonicalHeader(h.Name())
		v := h.Value()
		if len(v) > 1024 {
			v = v[:1024]
		}
		if prev, ok := out[name]; ok {
			out[name] = prev + ", " + v
		} else {
			out[name] = v
		}
	}
	return out
}

func canonicalHeader(n string) string {
	switch strings.ToLower(n) {
	case "call-id", "i":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	case "www-authenticate":
		return "WWW-Authenticate"
	}
	parts := strings.Split(strings.ToLower(n), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

func (c *Channel) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if req.To() != nil {
		if _, ok := req.To().Params.Get("tag"); ok { // in-dialog keepalive
			c.okOptions(req, tx)
			return
		}
	}
	// OPTIONS to the server itself (no user) is a ping: 200.
	if req.Recipient.User != "" {
		if _, err := c.localAddress(context.Background(), req.Recipient); err != nil {
			c.failLookup(req, tx, err)
			return
		}
	} else if !c.ours(req.Recipient.Host) {
		respond(tx, req, 404, "Not Found")
		return
	}
	c.okOptions(req, tx)
}

func (c *Channel) okOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allow))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, text/plain"))
	res.AppendHeader(sip.NewHeader("Supported", ""))
	_ = tx.Respond(res)
}

// failLookup answers a request whose address did not resolve.
func (c *Channel) failLookup(req *sip.Request, tx sip.ServerTransaction, err error) {
	if errors.Is(err, errUnknown) {
		respond(tx, req, 404, "Not Found")
		return
	}
	c.log.Warn("sip: address lookup failed", "uri", req.Recipient.String(), "err", err)
	respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
}

// client is the sipgo client for a transport.
func (c *Channel) client(transport string) *sipgo.Client {
	switch strings.ToLower(transport) {
	case "tcp":
		return c.cliTCP
	case "tls":
		if c.cliTLS != nil {
			return c.cliTLS
		}
		return c.cliTCP // dialling out over TLS needs no listener
	case "ws", "wss":
		if c.cliWS != nil {
			return c.cliWS
		}
		return c.cliTCP
	}
	return c.cliUDP
}

// overConnection reports whether requests to the far end must go back
// over the connection its request came on: TLS and WebSocket clients
// (browsers, phones behind NAT) are not reachable at their Contact.
func overConnection(transport string) bool {
	switch strings.ToLower(transport) {
	case "tls", "ws", "wss":
		return true
	}
	return false
}

// pin makes a UDP request leave from our listening socket (the address in
// our Via and Contact).
func (c *Channel) pin(req *sip.Request) {
	if strings.EqualFold(req.Transport(), "udp") && !c.addr.Addr().IsUnspecified() {
		req.Laddr = sip.Addr{IP: c.addr.Addr().AsSlice(), Port: int(c.addr.Port()), Hostname: c.addr.Addr().String()}
	}
}

// contact is our Contact header for a transport.
func (c *Channel) contact(user, transport string) sip.ContactHeader {
	port := c.addr.Port()
	tr := strings.ToLower(transport)
	switch {
	case tr == "tls" && c.tlsAddr.IsValid():
		port = c.tlsAddr.Port()
	case (tr == "ws" || tr == "wss") && c.wsAddr.IsValid():
		port = c.wsAddr.Port()
	}
	h := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: c.ip.String(), Port: int(port)}}
	if tr != "" && tr != "udp" {
		h.Address.UriParams = sip.NewParams()
		h.Address.UriParams.Add("transport", tr)
	}
	return h
}

// lookupCall finds the call an in-dialog request belongs to.
func (c *Channel) lookupCall(req *sip.Request) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, err := sip.DialogIDFromRequestUAS(req); err == nil {
		if k := c.calls[id]; k != nil {
			return k
		}
	}
	if id, err := sip.DialogIDFromRequestUAC(req); err == nil {
		return c.calls[id]
	}
	return nil
}

func (c *Channel) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if k := c.lookupCall(req); k != nil && k.ds != nil {
		if len(req.Body()) > 0 { // the answer to our offer (late offer)
			select {
			case k.ackSDP <- req.Body():
			default:
			}
		}
		_ = k.ds.ReadAck(req, tx)
	}
}

func (c *Channel) onBye(req *sip.Request, tx sip.ServerTransaction) {
	k := c.lookupCall(req)
	if k == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if k.ds != nil {
		if err := k.ds.ReadBye(req, tx); err != nil {
			respond(tx, req, 500, "Server Internal Error")
		}
	} else {
		_ = k.dc.ReadBye(req, tx)
		respond(tx, req, 200, "OK")
	}
	k.end(channels.ErrHangup)
}

func (c *Channel) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	k := c.lookupCall(req)
	if k == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if len(req.Body()) == 0 { // an empty INFO is a keepalive
		respond(tx, req, 200, "OK")
		return
	}
	d, ok := infoDigit(ct, req.Body())
	if !ok {
		respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	}
	respond(tx, req, 200, "OK")
	k.digit(d)
}

func (c *Channel) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	k := c.lookupCall(req)
	if k == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	respond(tx, req, 200, "OK")
	k.notify(req)
}

// hostport formats a SIP host and port.
func hostport(host string, port int) string {
	if port == 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
