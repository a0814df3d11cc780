package smstest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Sign computes Twilio's X-Twilio-Signature for a POST to fullURL with
// params: base64(HMAC-SHA1(token, fullURL + each param name and value,
// sorted by name)).
func Sign(token, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// FakeProvider is a local stand-in for Twilio's Messages API, following its
// documented shapes: POST /2010-04-01/Accounts/{AccountSid}/Messages.json
// with basic auth (AccountSid, AuthToken) and form To, From, Body
// (StatusCallback optional) answers 201 with the message resource; errors
// answer {"code","message","more_info","status"}.
type FakeProvider struct {
	URL            string // base URL (BaseURL of the route)
	Account, Token string

	srv *httptest.Server

	mu       sync.Mutex
	queue    []SentMessage // accepted, not yet taken by NextMessage
	all      []SentMessage
	requests int
	fail     []Failure
	changed  chan struct{}
}

// SentMessage is one message the fake accepted.
type SentMessage struct {
	SID, From, To, Body, StatusCallback string
	Form                                url.Values
	Auth                                string // the user name of the basic auth
}

// Failure is an error answer the fake gives instead of accepting.
type Failure struct {
	Status     int // HTTP status
	Code       int // Twilio error code
	Message    string
	RetryAfter string // Retry-After header, if any
}

// NewFakeProvider starts the fake on 127.0.0.1 and closes it when the test
// ends.
func NewFakeProvider(t testing.TB, account, token string) *FakeProvider {
	f := &FakeProvider{Account: account, Token: token, changed: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// Fail makes the next requests get these answers, in order.
func (f *FakeProvider) Fail(fs ...Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, fs...)
}

// Requests counts every request the fake received (accepted or not).
func (f *FakeProvider) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Messages lists every message accepted so far.
func (f *FakeProvider) Messages() []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SentMessage(nil), f.all...)
}

// NextMessage waits for the next accepted message.
func (f *FakeProvider) NextMessage(ctx context.Context) (SentMessage, error) {
	for {
		f.mu.Lock()
		if len(f.queue) > 0 {
			m := f.queue[0]
			f.queue = f.queue[1:]
			f.mu.Unlock()
			return m, nil
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return SentMessage{}, fmt.Errorf("no message reached the fake provider: %w", ctx.Err())
		}
	}
}

func twilioError(w http.ResponseWriter, status, code int, msg, retryAfter string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

func (f *FakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	var fail *Failure
	if len(f.fail) > 0 {
		fail = &f.fail[0]
		f.fail = f.fail[1:]
	}
	f.mu.Unlock()
	prefix := "/2010-04-01/Accounts/"
	acct, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, prefix), "/")
	if !strings.HasPrefix(r.URL.Path, prefix) || rest != "Messages.json" {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found", "")
		return
	}
	if r.Method != http.MethodPost {
		twilioError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed", "")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.Account || pass != f.Token {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate", "")
		return
	}
	if acct != f.Account {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found", "")
		return
	}
	if fail != nil {
		twilioError(w, fail.Status, fail.Code, fail.Message, fail.RetryAfter)
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 20001, "Invalid form: "+err.Error(), "")
		return
	}
	to, from, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.", "")
		return
	case !e164(to):
		twilioError(w, http.StatusBadRequest, 21211, "Invalid 'To' Phone Number: "+to, "")
		return
	case from == "":
		twilioError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.", "")
		return
	case body == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.", "")
		return
	case utf8.RuneCountInString(body) > 1600:
		twilioError(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.", "")
		return
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	sid := "SM" + hex.EncodeToString(id[:])
	m := SentMessage{SID: sid, From: from, To: to, Body: body, StatusCallback: r.PostForm.Get("StatusCallback"), Form: r.PostForm, Auth: user}
	f.mu.Lock()
	f.queue = append(f.queue, m)
	f.all = append(f.all, m)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	now := time.Now().UTC().Format(time.RFC1123Z)
	uri := prefix + f.Account + "/Messages/" + sid
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"account_sid": f.Account, "api_version": "2010-04-01", "body": body,
		"date_created": now, "date_sent": nil, "date_updated": now, "direction": "outbound-api",
		"error_code": nil, "error_message": nil, "from": from, "messaging_service_sid": nil,
		"num_media": "0", "num_segments": "1", "price": nil, "price_unit": "USD",
		"sid": sid, "status": "queued", "to": to, "uri": uri + ".json",
		"subresource_uris": map[string]string{"media": uri + "/Media.json"},
	})
}

func e164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Inbound posts an incoming message to a Chorus webhook the way the
// provider does (form From, To, Body, MessageSid, AccountSid...), signed
// with the fake's token over webhookURL.
func (f *FakeProvider) Inbound(ctx context.Context, webhookURL, from, to, body string) (*http.Response, error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	form := url.Values{
		"MessageSid": {"SM" + hex.EncodeToString(id[:])}, "SmsSid": {"SM" + hex.EncodeToString(id[:])},
		"AccountSid": {f.Account}, "From": {from}, "To": {to}, "Body": {body},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "ApiVersion": {"2010-04-01"}, "SmsStatus": {"received"},
	}
	return PostSigned(ctx, webhookURL, Sign(f.Token, webhookURL, form), form)
}

// Status posts a status callback for an accepted message to the
// StatusCallback URL it was sent with ("delivered", "undelivered",
// "failed"...), signed with the fake's token.
func (f *FakeProvider) Status(ctx context.Context, m SentMessage, status, errorCode string) (*http.Response, error) {
	if m.StatusCallback == "" {
		return nil, fmt.Errorf("message %s was sent without a StatusCallback", m.SID)
	}
	form := url.Values{
		"MessageSid": {m.SID}, "SmsSid": {m.SID}, "AccountSid": {f.Account}, "From": {m.From}, "To": {m.To},
		"MessageStatus": {status}, "SmsStatus": {status}, "ApiVersion": {"2010-04-01"},
	}
	if errorCode != "" {
		form.Set("ErrorCode", errorCode)
	}
	return PostSigned(ctx, m.StatusCallback, Sign(f.Token, m.StatusCallback, form), form)
}

// PostSigned posts form to u with X-Twilio-Signature sig ("" sends none).
// The response body is read and closed; the caller reads the status and
// headers.
func PostSigned(ctx context.Context, u, sig string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, err
}
