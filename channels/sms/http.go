package sms

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
)

// provider is one Twilio-shaped HTTP SMS provider.
type provider struct {
	c      *Channel
	cfg    HTTPConfig
	log    *slog.Logger
	client *http.Client

	mu        sync.Mutex
	statusURL string // learned from the first signed webhook; empty: no StatusCallback
}

// Bounds on what a provider or its webhook sends us.
const (
	maxWebhookBody  = 64 << 10
	maxResponseBody = 64 << 10
	maxBodyRunes    = 1600 // Twilio's limit of one Messages.json Body
	maxRetryAfter   = 60 * time.Second
)

func newProvider(c *Channel, cfg HTTPConfig) *provider {
	return &provider{
		c:      c,
		cfg:    cfg,
		log:    c.log.With("route", cfg.Name, "provider", cfg.BaseURL),
		client: &http.Client{Timeout: c.timing.httpTimeout},
	}
}

// ProviderError is an HTTP provider's refusal of a message.
type ProviderError struct {
	Route    string
	Status   int    // HTTP status
	Code     int    // the provider's error code (Twilio's "code"), 0 if none
	Message  string // the provider's message
	MoreInfo string
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "SMS provider %q refused the message: HTTP %d", e.Route, e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.MoreInfo != "" {
		b.WriteString(" (" + e.MoreInfo + ")")
	}
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		b.WriteString("; check the route's account and token")
	case e.Status == http.StatusTooManyRequests:
		b.WriteString("; the provider is rate limiting, try again later")
	}
	return b.String()
}

// send posts text to the provider, in chunks of 1600 characters (the
// provider splits each into SMS parts itself).
func (p *provider) send(ctx context.Context, from, to, text, session string) error {
	chunks := splitRunes(text, maxBodyRunes)
	out := &outgoing{session: session, parts: len(chunks)}
	for i, body := range chunks {
		sid, err := p.post(ctx, from, to, body)
		if err != nil {
			if len(chunks) > 1 {
				return fmt.Errorf("chunk %d of %d: %w", i+1, len(chunks), err)
			}
			return err
		}
		p.c.sent.add(p.cfg.Name, sid, out)
	}
	return nil
}

func splitRunes(s string, n int) []string {
	r := []rune(s)
	var out []string
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return append(out, string(r))
}

// post creates one message: POST {BaseURL}/2010-04-01/Accounts/{Account}/Messages.json.
// A 5xx or 429 is retried once, after Retry-After when given, if ctx
// leaves time for it.
func (p *provider) post(ctx context.Context, from, to, body string) (string, error) {
	form := url.Values{"To": {to}, "From": {from}, "Body": {body}}
	p.mu.Lock()
	if p.statusURL != "" {
		form.Set("StatusCallback", p.statusURL)
	}
	p.mu.Unlock()
	endpoint := strings.TrimRight(p.cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(p.cfg.Account) + "/Messages.json"
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return "", fmt.Errorf("SMS provider %q: %w", p.cfg.Name, err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth(p.cfg.Account, p.cfg.Token)
		resp, err := p.client.Do(req)
		if err != nil {
			return "", fmt.Errorf("SMS provider %q cannot be reached: %w", p.cfg.Name, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		resp.Body.Close()
		switch st := resp.StatusCode; {
		case st == http.StatusCreated || st == http.StatusOK:
			var r struct {
				SID string `json:"sid"`
			}
			if err := json.Unmarshal(b, &r); err != nil || r.SID == "" {
				return "", fmt.Errorf("SMS provider %q answered %d without a message sid: %s", p.cfg.Name, st, cut(string(b), 200))
			}
			return r.SID, nil
		case (st == http.StatusTooManyRequests || st >= 500) && attempt == 1:
			wait := retryAfter(resp.Header.Get("Retry-After"), p.c.timing.httpRetryWait)
			perr := providerError(p.cfg.Name, st, b)
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return "", fmt.Errorf("%w (no time left to retry after %s)", perr, wait)
			}
			p.log.Warn("sms: the SMS provider failed; retrying once", "status", st, "err", perr.Message, "retry_in", wait.String())
			if !sleep(ctx, wait) {
				return "", fmt.Errorf("%w (the sender stopped waiting to retry: %w)", perr, context.Cause(ctx))
			}
		default:
			return "", providerError(p.cfg.Name, st, b)
		}
	}
}

func providerError(route string, status int, body []byte) *ProviderError {
	var j struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	e := &ProviderError{Route: route, Status: status}
	if json.Unmarshal(body, &j) == nil {
		e.Code, e.Message, e.MoreInfo = j.Code, j.Message, j.MoreInfo
	} else if s := strings.TrimSpace(string(body)); s != "" {
		e.Message = cut(s, 200)
	}
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date), capped.
func retryAfter(h string, def time.Duration) time.Duration {
	if h == "" {
		return def
	}
	d := def
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = time.Until(t)
	}
	return max(0, min(d, maxRetryAfter))
}

// Signature computes X-Twilio-Signature: base64(HMAC-SHA1(token, url +
// every POST parameter's name and value, sorted by name)).
func Signature(token, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(token))
	io.WriteString(mac, fullURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			io.WriteString(mac, k)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// requestURL reconstructs the URL the provider called: scheme from TLS or
// X-Forwarded-Proto (a proxy in front), the Host header, the request URI.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if xf := r.Header.Get("X-Forwarded-Proto"); xf != "" {
		if s := strings.ToLower(strings.TrimSpace(strings.Split(xf, ",")[0])); s == "http" || s == "https" {
			scheme = s
		}
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	return scheme + "://" + r.Host + uri
}

// signed checks the request's signature over u and its POST parameters.
// The URL is tried as reconstructed and with its default port added or
// dropped (providers differ in which they sign).
func (p *provider) signed(r *http.Request, u string) bool {
	got := r.Header.Get("X-Twilio-Signature")
	if got == "" {
		return false
	}
	for _, cand := range urlVariants(u) {
		want := Signature(p.cfg.Token, cand, r.PostForm)
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return true
		}
	}
	return false
}

func urlVariants(u string) []string {
	out := []string{u}
	pu, err := url.Parse(u)
	if err != nil {
		return out
	}
	def := map[string]string{"http": "80", "https": "443"}[pu.Scheme]
	switch pu.Port() {
	case "":
		pu.Host += ":" + def
		out = append(out, pu.String())
	case def:
		pu.Host = pu.Hostname()
		if strings.Contains(pu.Host, ":") {
			pu.Host = "[" + pu.Host + "]"
		}
		out = append(out, pu.String())
	}
	return out
}

// readSigned parses a webhook's form and checks its signature; on failure
// it has answered (405, 400, 403) and logged.
func (p *provider) readSigned(w http.ResponseWriter, r *http.Request, what string) (string, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	if err := r.ParseForm(); err != nil {
		p.log.Warn("sms: unreadable "+what+" refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return "", false
	}
	u := requestURL(r)
	if !p.signed(r, u) {
		why := "a bad"
		if r.Header.Get("X-Twilio-Signature") == "" {
			why = "no"
		}
		p.log.Warn("sms: "+what+" with "+why+" X-Twilio-Signature refused (signed with another token or for another URL?)", "remote", r.RemoteAddr, "url", u)
		http.Error(w, "invalid X-Twilio-Signature", http.StatusForbidden)
		return "", false
	}
	return u, true
}

// inbound serves the provider's incoming-message webhook (form From, To,
// Body, MessageSid...). It answers an empty TwiML response: replies go out
// through the REST API.
func (p *provider) inbound(w http.ResponseWriter, r *http.Request) {
	u, ok := p.readSigned(w, r, "SMS webhook")
	if !ok {
		return
	}
	p.learn(r, u)
	f := r.PostForm
	from, err1 := channels.Normalize(channels.SMS, f.Get("From"))
	to, err2 := channels.Normalize(channels.SMS, f.Get("To"))
	switch {
	case err1 != nil || err2 != nil:
		p.log.Warn("sms: webhook message between addresses that are not phone numbers; dropped", "from", f.Get("From"), "to", f.Get("To"))
	case !p.c.isBound(to):
		p.log.Warn("sms: message to a number not bound to an app; dropped", "to", to, "from", from)
	default:
		headers := map[string]string{}
		if sid := f.Get("MessageSid"); sid != "" {
			headers["MessageSid"] = cut(sid, 64)
		}
		if err := p.c.deliver(p.cfg.Name, from, to, f.Get("Body"), headers); err != nil {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "cannot take the message now: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response/>`)
}

// learn keeps the URL the provider reaches us at, for StatusCallback.
func (p *provider) learn(r *http.Request, u string) {
	pu, err := url.Parse(u)
	if err != nil {
		return
	}
	pu.RawQuery, pu.Fragment = "", ""
	pu.Path = strings.TrimRight(pu.Path, "/") + "/status"
	pu.RawPath = ""
	p.mu.Lock()
	p.statusURL = pu.String()
	p.mu.Unlock()
}

// status serves the provider's status callbacks (MessageSid,
// MessageStatus, ErrorCode): delivered and failed ones become receipts.
func (p *provider) status(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.readSigned(w, r, "SMS status callback"); !ok {
		return
	}
	f := r.PostForm
	sid, st := f.Get("MessageSid"), strings.ToLower(f.Get("MessageStatus"))
	switch st {
	case "delivered":
		p.c.receipt(p.cfg.Name, sid, "DELIVRD", "")
	case "undelivered", "failed":
		p.c.receipt(p.cfg.Name, sid, strings.ToUpper(st), cut(f.Get("ErrorCode"), 16))
	default:
		p.log.Debug("sms: status callback", "sid", sid, "status", st)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *Channel) isBound(num string) bool {
	_, ok := c.routeOf(num)
	return ok
}
