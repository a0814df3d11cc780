package httpmod

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/chorus-dev/chorus/runtime/luamod"
)

// Defaults of Config.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxBody        = 2 << 20
	DefaultMaxRequestBody = 1 << 20
	DefaultUserAgent      = "Chorus/1"
)

// MaxRedirects is how many redirects a request follows.
const MaxRedirects = 5

// maxHeaderBytes bounds a response's header block.
const maxHeaderBytes = 256 << 10

// Config configures the http module of every session. Zero fields take the
// defaults.
type Config struct {
	// Allow lists host[:port] patterns scripts may reach even when the
	// address is loopback, private, link-local or otherwise refused
	// (lua.http_allow): "127.0.0.1:8099", "localhost:*", "*.internal",
	// "[::1]:8080", "10.0.0.0/8", "[fd00::/8]:443". No port, or "*", means
	// every port. A name pattern matches the host the URL names (the
	// address it resolves to is then not checked); an address or range
	// matches the resolved address, whatever name led to it. "*" alone
	// allows everything: the protection is off.
	Allow []string
	// Timeout is both the default and the longest timeout of one request,
	// redirects and reading the body included. Default 10s.
	Timeout time.Duration
	// MaxBody is the largest response body handed to a script; a larger
	// one fails the request. Default 2 MiB.
	MaxBody int64
	// MaxRequestBody is the largest body a script may send. Default 1 MiB.
	MaxRequestBody int64
	// UserAgent is sent when the script gives none. Default "Chorus/1".
	UserAgent string
}

// Client is the http module shared by every session: one connection pool
// behind the address policy. It is safe for concurrent use; Open binds it
// to one session's Lua state.
type Client struct {
	cfg       Config
	allow     []allowRule
	transport *http.Transport
	hc        *http.Client

	// Replaced by tests, so that no test resolves names or connects
	// anywhere but 127.0.0.1.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

// New checks cfg, applies its defaults and returns the module.
func New(cfg Config) (*Client, error) {
	if cfg.Timeout < 0 || cfg.MaxBody < 0 || cfg.MaxRequestBody < 0 {
		return nil, errors.New("httpmod: negative timeout or size")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxRequestBody == 0 {
		cfg.MaxRequestBody = DefaultMaxRequestBody
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	c := &Client{cfg: cfg, lookup: lookupHost}
	for _, p := range cfg.Allow {
		r, err := parseAllow(p)
		if err != nil {
			return nil, fmt.Errorf("httpmod: allow pattern %q: %v", p, err)
		}
		c.allow = append(c.allow, r)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	c.dial = dialer.DialContext
	c.transport = &http.Transport{
		Proxy:                  nil, // never a proxy from the environment: the policy checks what is dialled
		DialContext:            c.dialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.Timeout,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        60 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	c.hc = &http.Client{
		Transport:     c.transport,
		CheckRedirect: checkRedirect,
		// No Jar: sessions share the client, never cookies.
	}
	return c, nil
}

// Close closes the idle connections of the pool. Requests still running
// are not affected; their sessions' contexts end them.
func (c *Client) Close() {
	c.transport.CloseIdleConnections()
}

// checkRedirect follows at most MaxRedirects redirects, to http and https
// URLs only. The address policy applies to each through dialContext.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("redirect to unsupported scheme %q", s)
	}
	return nil
}

// request is one request as a script described it.
type request struct {
	method  string
	url     *url.URL
	header  http.Header
	host    string // the Host header, when the script gave one
	body    string
	timeout time.Duration
}

// response is what a script gets back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// size is what the response is charged: its body and header text.
func (r *response) size() int64 {
	n := int64(len(r.body))
	for k, vs := range r.header {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

// do performs r under ctx (the session's), bounded by r.timeout, and reads
// at most MaxBody bytes of the body. Its errors are the text a script gets.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	if int64(len(r.body)) > c.cfg.MaxRequestBody {
		return nil, fmt.Errorf("http: request body larger than %s", luamod.FormatSize(c.cfg.MaxRequestBody))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("http: %s %s: cancelled (%v)", r.method, r.url.Redacted(), context.Cause(ctx))
	}
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(rctx, r.method, r.url.String(), body)
	if err != nil {
		return nil, fmt.Errorf("http: %v", err)
	}
	req.Header = r.header
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	if r.host != "" {
		req.Host = r.host
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.failure(ctx, rctx, r, err)
	}
	defer resp.Body.Close()
	tooLarge := fmt.Errorf("http: %s %s: response body larger than %s", r.method, r.url.Redacted(), luamod.FormatSize(c.cfg.MaxBody))
	if resp.ContentLength > c.cfg.MaxBody && r.method != http.MethodHead {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBody+1))
	if err != nil {
		return nil, c.failure(ctx, rctx, r, err)
	}
	if int64(len(data)) > c.cfg.MaxBody {
		return nil, tooLarge
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// failure turns an error of the client into the text a script gets.
func (c *Client) failure(session, rctx context.Context, r *request, err error) error {
	var refused *refusedError
	if errors.As(err, &refused) {
		return refused
	}
	what := r.method + " " + r.url.Redacted()
	switch {
	case session.Err() != nil:
		return fmt.Errorf("http: %s: cancelled (%v)", what, context.Cause(session))
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("http: %s: timed out after %v", what, r.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("http: %s: %v", what, err)
}
