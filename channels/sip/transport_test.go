package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip/siptest"
)

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it:
// the server's tls.Config and a client's that trusts only that CA.
func testCA(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chorus test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// TestCallOverTLS: a phone calls over SIP/TLS (verifying the server's
// certificate against a CA of the test); our 200 OK names the TLS
// listener in its Contact, the prompt's RTP flows as on UDP, and the app's hangup
// reaches the phone as a BYE over the TLS connection.
func TestCallOverTLS(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testCA(t)
	rec := newRecord()
	ch := startChannel(t, Config{TLSListen: "127.0.0.1:0", TLSConfig: srvTLS, Resolve: only("weather"), TTS: testSynth(t),
		Handler: channels.HandlerFunc(func(c channels.Conversation) {
			defer close(rec.done)
			rec.info = c.Info()
			call := c.(channels.Call)
			if rec.err = call.Answer(c.Context()); rec.err != nil {
				return
			}
			if rec.err = call.Play(c.Context(), "Hello.", channels.PlayOptions{}); rec.err != nil {
				return
			}
			rec.err = call.Hangup(c.Context())
		})})
	if !ch.TLSAddr().IsValid() || ch.TLSAddr().Port() == ch.Addr().Port() {
		t.Fatalf("TLS address %s (UDP/TCP %s)", ch.TLSAddr(), ch.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ph, err := siptest.CallWith(ctx, siptest.CallOptions{Target: ch.TLSAddr(), User: "weather", Transport: "tls", TLS: cliTLS})
	if err != nil {
		t.Fatalf("call over TLS: %v", err)
	}
	defer ph.Close()
	cont := ph.InviteResponse().Contact()
	if cont == nil || cont.Address.Port != int(ch.TLSAddr().Port()) {
		t.Fatalf("200 OK Contact %v; want our TLS port %d", cont, ch.TLSAddr().Port())
	}
	if tr, _ := cont.Address.UriParams.Get("transport"); tr != "tls" {
		t.Fatalf("200 OK Contact %s; want transport=tls", cont.Value())
	}
	select {
	case <-ph.Bye():
	case <-ctx.Done():
		t.Fatal("no BYE over TLS after the app hung up")
	}
	rec.wait(t, 2*time.Second)
	if rec.err != nil {
		t.Fatalf("handler: %v", rec.err)
	}
	if v := rec.info.Headers["Via"]; !strings.Contains(v, "SIP/2.0/TLS") {
		t.Fatalf("the INVITE's Via %q: not over TLS", v)
	}
	loud := 0
	for _, p := range ph.Received() {
		if !p.Silent {
			loud++
		}
	}
	if loud < 10 {
		t.Fatalf("the phone heard %d RTP packets of the prompt", loud)
	}

	// A client that does not trust our CA cannot connect.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if ph2, err := siptest.CallWith(ctx2, siptest.CallOptions{Target: ch.TLSAddr(), User: "weather", Transport: "tls", TLS: &tls.Config{}}); err == nil {
		ph2.Close()
		t.Fatal("a call over TLS with an untrusted certificate succeeded")
	}
}

// TestOptionsOverWebSocket: a WebSocket client (subprotocol "sip", RFC
// 7118) sends OPTIONS and reads 200 for a bound app, 404 for another.
func TestOptionsOverWebSocket(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{WSListen: "127.0.0.1:0", Resolve: only("weather"), Handler: channels.HandlerFunc(func(channels.Conversation) {})})
	if !ch.WSAddr().IsValid() {
		t.Fatal("no WebSocket address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, "ws://"+ch.WSAddr().String(), &websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer conn.CloseNow()
	if res.Header.Get("Sec-WebSocket-Protocol") != "sip" {
		t.Fatalf("the server did not accept the sip subprotocol: %q", res.Header.Get("Sec-WebSocket-Protocol"))
	}
	for i, tc := range []struct{ user, want string }{{"weather", "SIP/2.0 200 "}, {"nobody", "SIP/2.0 404 "}} {
		branch := fmt.Sprintf("z9hG4bKws%d%d", time.Now().UnixNano(), i)
		msg := "OPTIONS sip:" + tc.user + "@" + ch.WSAddr().String() + ";transport=ws SIP/2.0\r\n" +
			"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=" + branch + "\r\n" +
			"Max-Forwards: 70\r\n" +
			"To: <sip:" + tc.user + "@chorus.test>\r\n" +
			"From: <sip:browser@chorus.test>;tag=ws" + branch[7:] + "\r\n" +
			"Call-ID: " + branch + "@ws.test\r\n" +
			"CSeq: 1 OPTIONS\r\n" +
			"Contact: <sip:browser@df7jal23ls0d.invalid;transport=ws>\r\n" +
			"Content-Length: 0\r\n\r\n"
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("OPTIONS %s over WebSocket: no response: %v", tc.user, err)
		}
		if !strings.HasPrefix(string(got), tc.want) || !strings.Contains(string(got), branch) {
			t.Fatalf("OPTIONS %s over WebSocket: got\n%s\nwant %q", tc.user, got, tc.want)
		}
	}
}

// TestMessageOverWebSocket: a MESSAGE over WebSocket reaches the app, and
// its reply comes back as a MESSAGE over the same WebSocket connection.
func TestMessageOverWebSocket(t *testing.T) {
	t.Parallel()
	ch := startChannel(t, Config{WSListen: "127.0.0.1:0", Resolve: only("weather"), Handler: channels.HandlerFunc(func(c channels.Conversation) {
		_ = c.Send(c.Context(), "you said "+c.Info().InitialText)
	})})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+ch.WSAddr().String(), &websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer conn.CloseNow()
	branch := fmt.Sprintf("z9hG4bKwsm%d", time.Now().UnixNano())
	body := "32801"
	msg := "MESSAGE sip:weather@chorus.test SIP/2.0\r\n" +
		"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=" + branch + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:weather@chorus.test>\r\n" +
		"From: \"Browser\" <sip:browser@df7jal23ls0d.invalid>;tag=wsm1\r\n" +
		"Call-ID: " + branch + "@ws.test\r\n" +
		"CSeq: 1 MESSAGE\r\n" +
		"Content-Type: text/plain\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	gotOK, gotReply := false, false
	for !gotOK || !gotReply {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("over WebSocket: 200 %v, reply %v: %v", gotOK, gotReply, err)
		}
		s := string(data)
		switch {
		case strings.HasPrefix(s, "SIP/2.0 200 ") && strings.Contains(s, branch):
			gotOK = true
		case strings.HasPrefix(s, "MESSAGE "):
			if !strings.HasSuffix(s, "you said 32801") {
				t.Fatalf("reply:\n%s", s)
			}
			gotReply = true
			req, err := sip.ParseMessage(data)
			if err != nil {
				t.Fatal(err)
			}
			res := sip.NewResponseFromRequest(req.(*sip.Request), 200, "OK", nil)
			if err := conn.Write(ctx, websocket.MessageText, []byte(res.String())); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected over WebSocket:\n%s", s)
		}
	}
}
