package xmpp_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels/xmpp"
	"github.com/chorus-dev/chorus/channels/xmpp/xmpptest"
)

// BenchmarkRoundTrip: one person's message to the echo app and its answer,
// through Prosody, against the same through two plain clients.
func BenchmarkRoundTrip(b *testing.B) {
	p := xmpptest.StartProsody(b)
	for _, u := range []string{"bot", "alice", "bob"} {
		p.Register(b, u, u+"-pw")
	}
	alice := xmpptest.Dial(b, p.C2S, p.JID("alice"), "alice-pw")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	b.Run("PlainClients", func(b *testing.B) {
		bob := xmpptest.Dial(b, p.C2S, p.JID("bob"), "bob-pw")
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				from, text, err := bob.Next(ctx)
				if err != nil {
					return
				}
				select {
				case <-done:
					return
				default:
				}
				_ = bob.Send(from, "echo: "+text)
			}
		}()
		roundTrips(b, ctx, alice, p.JID("bob"))
	})
	b.Run("EchoApp", func(b *testing.B) {
		ch, err := xmpp.New(xmpp.Config{Handler: echo, NewID: newID, AllowPlaintext: true})
		if err != nil {
			b.Fatal(err)
		}
		ch.SetAccounts([]xmpp.Account{{JID: p.JID("bot"), Password: "bot-pw", Server: p.C2S}})
		sctx, stop := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- ch.Serve(sctx) }()
		defer func() {
			tctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			_ = ch.Shutdown(tctx)
			stop()
			<-served
		}()
		for st, _, _ := ch.State(p.JID("bot")); st != "connected"; st, _, _ = ch.State(p.JID("bot")) {
			time.Sleep(10 * time.Millisecond)
		}
		roundTrips(b, ctx, alice, p.JID("bot"))
	})
}

func roundTrips(b *testing.B, ctx context.Context, c *xmpptest.Client, to string) {
	b.ResetTimer()
	for i := range b.N {
		want := "echo: " + strconv.Itoa(i)
		if err := c.Send(to, strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		for {
			_, text, err := c.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if text == want {
				break
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}
