package sms

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms/smstest"
)

const hookPath = "/v1/sms/provider"

type httpEnv struct {
	ch    *Channel
	fake  *smstest.FakeProvider
	srv   *httptest.Server // Chorus's HTTP server, with the webhooks
	hook  string           // the webhook's full URL
	rec   *receipts
	logs  *logBuf
	calls atomic.Int32 // handler calls
}

func startHTTP(t *testing.T, h channels.HandlerFunc) *httpEnv {
	t.Helper()
	e := &httpEnv{fake: smstest.NewFakeProvider(t, "AC0123456789abcdef", "tok3n"), rec: newReceipts()}
	log, logs := testLogger(t)
	e.logs = logs
	ch, err := New(Config{
		Handler: channels.HandlerFunc(func(c channels.Conversation) { e.calls.Add(1); h(c) }),
		NewID:   newID,
		HTTP:    []HTTPConfig{{Name: "provider", BaseURL: e.fake.URL, Account: e.fake.Account, Token: e.fake.Token, WebhookPath: hookPath}},
		Receipt: e.rec.add,
		Logger:  log,
		timing:  fastTiming(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ch.SetNumbers([]Number{{Number: ourNum, Route: "provider"}})
	mux := http.NewServeMux()
	for p, h := range ch.Webhooks() {
		mux.Handle(p, h)
	}
	e.srv = httptest.NewServer(mux)
	e.ch = ch
	e.hook = e.srv.URL + hookPath
	t.Cleanup(func() {
		e.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := ch.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if st, _, _ := ch.State(ourNum); st != StateConnected {
		t.Fatalf("state of an HTTP route %q", st)
	}
	return e
}

func TestHTTPWebhookConversation(t *testing.T) {
	e := startHTTP(t, zipApp)
	resp, err := e.fake.Inbound(ctxT(t, 5*time.Second), e.hook, phone, ourNum, "hi")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") || !strings.Contains(body, "<Response/>") {
		t.Fatalf("webhook answer %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	m, err := e.fake.NextMessage(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if m.From != ourNum || m.To != phone || m.Body != "Which ZIP code?" || m.Auth != e.fake.Account {
		t.Fatalf("outbound message %+v", m)
	}
	if want := e.hook + "/status"; m.StatusCallback != want {
		t.Errorf("StatusCallback %q, want %q (learned from the webhook)", m.StatusCallback, want)
	}
	resp, err = e.fake.Inbound(ctxT(t, 5*time.Second), e.hook, phone, ourNum, "32801")
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	for _, want := range []string{"Forecast for 32801", "Bye"} {
		m, err := e.fake.NextMessage(ctxT(t, 5*time.Second))
		if err != nil || m.Body != want {
			t.Fatalf("reply %q %v, want %q", m.Body, err, want)
		}
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("%d conversations, want 1", n)
	}
	// Status callbacks become receipts on the session.
	if resp, err := e.fake.Status(ctxT(t, 5*time.Second), m, "sent", ""); err != nil || resp.StatusCode != 204 {
		t.Fatal(resp, err)
	}
	if resp, err := e.fake.Status(ctxT(t, 5*time.Second), m, "delivered", ""); err != nil || resp.StatusCode != 204 {
		t.Fatal(resp, err)
	}
	if r := e.rec.next(t, 2*time.Second); !strings.HasSuffix(r, " delivered") || strings.HasPrefix(r, " ") {
		t.Errorf("receipt %q", r)
	}
	mfail, _ := e.fake.NextMessage(ctxT(t, 50*time.Millisecond)) // none left
	_ = mfail
	if n := e.rec.count(); n != 1 {
		t.Errorf("%d receipts, want 1 (\"sent\" is not final)", n)
	}
}

func TestHTTPWebhookRefused(t *testing.T) {
	e := startHTTP(t, forecast)
	form := url.Values{"From": {phone}, "To": {ourNum}, "Body": {"32801"}, "MessageSid": {"SM1"}}
	other, _ := url.Parse(e.hook)
	other.Path = "/v1/sms/other"
	for _, tc := range []struct{ name, sig string }{
		{"unsigned", ""},
		{"forged", smstest.Sign("not-the-token", e.hook, form)},
		{"garbage", "AAAA"},
		{"signed over another URL", smstest.Sign(e.fake.Token, other.String(), form)},
		{"signed over other parameters", smstest.Sign(e.fake.Token, e.hook, url.Values{"From": {phone}, "To": {ourNum}, "Body": {"hi"}})},
	} {
		resp, err := smstest.PostSigned(ctxT(t, 5*time.Second), e.hook, tc.sig, form)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, resp.StatusCode)
		}
	}
	// Query parameters are part of the signed URL.
	resp, err := smstest.PostSigned(ctxT(t, 5*time.Second), e.hook+"?x=1", smstest.Sign(e.fake.Token, e.hook, form), form)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("signed without the query: %v %v", resp.StatusCode, err)
	}
	// The status callback checks too.
	if resp, _ := smstest.PostSigned(ctxT(t, 5*time.Second), e.hook+"/status", "", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned status callback: %d", resp.StatusCode)
	}
	time.Sleep(200 * time.Millisecond)
	if n, r := e.calls.Load(), e.fake.Requests(); n != 0 || r != 0 {
		t.Fatalf("refused webhooks had side effects: %d conversations, %d provider requests", n, r)
	}
	if !strings.Contains(e.logs.String(), "X-Twilio-Signature refused") {
		t.Errorf("refusals are not logged")
	}
	// GET is not a webhook.
	r, _ := http.Get(e.hook)
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", r.StatusCode)
	}
	r.Body.Close()
}

// A proxy terminating TLS in front of Chorus: the provider signed the
// https URL; X-Forwarded-Proto says so.
func TestHTTPWebhookBehindProxy(t *testing.T) {
	e := startHTTP(t, forecast)
	form := url.Values{"From": {phone}, "To": {ourNum}, "Body": {"32801"}}
	public := "https://" + strings.TrimPrefix(e.srv.URL, "http://") + hookPath
	req, _ := http.NewRequest(http.MethodPost, e.hook, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Twilio-Signature", smstest.Sign(e.fake.Token, public, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	m, err := e.fake.NextMessage(ctxT(t, 5*time.Second))
	if err != nil || m.Body != "Forecast for 32801" || m.StatusCallback != public+"/status" {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestHTTPSendRetriesOnce(t *testing.T) {
	e := startHTTP(t, forecast)
	e.fake.Fail(smstest.Failure{Status: 500, Code: 20500, Message: "Internal Server Error"})
	msg := channels.Message{From: number(ourNum), To: number(phone), Text: "Forecast: sunny", SessionID: "s-retry"}
	if err := e.ch.SendMessage(ctxT(t, 5*time.Second), msg); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Requests(); n != 2 {
		t.Fatalf("%d requests, want 2 (one 500, one retry)", n)
	}
	m, err := e.fake.NextMessage(ctxT(t, time.Second))
	if err != nil || m.Body != "Forecast: sunny" || m.From != ourNum || m.To != phone {
		t.Fatalf("%+v %v", m, err)
	}
	// 429 with Retry-After, then 201.
	e.fake.Fail(smstest.Failure{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "1"})
	start := time.Now()
	if err := e.ch.SendMessage(ctxT(t, 5*time.Second), msg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("Retry-After 1 not respected: retried after %s", d)
	}
	// Two 500s: a clear error, no third try.
	e.fake.Fail(smstest.Failure{Status: 503, Code: 20503, Message: "Service Unavailable"}, smstest.Failure{Status: 500, Code: 20500, Message: "Internal Server Error"})
	before := e.fake.Requests()
	err = e.ch.SendMessage(ctxT(t, 5*time.Second), msg)
	var pe *ProviderError
	if !errors.As(err, &pe) || pe.Status != 500 || e.fake.Requests()-before != 2 {
		t.Fatalf("after two failures: %v (%d requests)", err, e.fake.Requests()-before)
	}
	// A Retry-After beyond the sender's deadline fails at once.
	e.fake.Fail(smstest.Failure{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "30"})
	start = time.Now()
	err = e.ch.SendMessage(ctxT(t, 2*time.Second), msg)
	if err == nil || time.Since(start) > time.Second || !strings.Contains(err.Error(), "429") {
		t.Fatalf("429 with a long Retry-After: %v after %s", err, time.Since(start))
	}
}

func TestHTTPSendClientError(t *testing.T) {
	e := startHTTP(t, forecast)
	e.fake.Fail(smstest.Failure{Status: 400, Code: 21211, Message: "Invalid 'To' Phone Number"})
	err := e.ch.SendMessage(ctxT(t, 5*time.Second), channels.Message{From: number(ourNum), To: number(phone), Text: "hi"})
	var pe *ProviderError
	if !errors.As(err, &pe) || pe.Status != 400 || pe.Code != 21211 || !strings.Contains(err.Error(), "Invalid 'To' Phone Number") || !strings.Contains(err.Error(), "twilio.com/docs/errors/21211") {
		t.Fatalf("400: %v", err)
	}
	if n := e.fake.Requests(); n != 1 {
		t.Errorf("a 400 was retried: %d requests", n)
	}
	if !strings.Contains(e.logs.String(), "sending failed") {
		t.Errorf("the failure is not logged")
	}
	// Wrong credentials say so.
	e.ch.http["provider"].cfg.Token = "wrong"
	err = e.ch.SendMessage(ctxT(t, 5*time.Second), channels.Message{From: number(ourNum), To: number(phone), Text: "hi"})
	if !errors.As(err, &pe) || pe.Status != 401 || !strings.Contains(err.Error(), "check the route's account and token") {
		t.Fatalf("401: %v", err)
	}
	// A long text goes in 1600-character chunks.
	e.ch.http["provider"].cfg.Token = e.fake.Token
	text := strings.Repeat("x", 2000)
	if err := e.ch.SendMessage(ctxT(t, 5*time.Second), channels.Message{From: number(ourNum), To: number(phone), Text: text}); err != nil {
		t.Fatal(err)
	}
	a, _ := e.fake.NextMessage(ctxT(t, time.Second))
	b, _ := e.fake.NextMessage(ctxT(t, time.Second))
	if a.Body+b.Body != text || len(a.Body) != 1600 {
		t.Errorf("chunks %d + %d", len(a.Body), len(b.Body))
	}
}

func readBody(r *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
