package xmpp_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/xmpp"
)

// An echo bot on one account and on every JID of a component domain.
func ExampleNew() {
	ch, err := xmpp.New(xmpp.Config{
		Handler: channels.HandlerFunc(func(c channels.Conversation) {
			_ = c.Send(c.Context(), "you said: "+c.Info().InitialText)
		}),
		NewID:      func() string { return time.Now().Format("150405.000000") },
		Components: []xmpp.Component{{Domain: "apps.example.com", Server: "127.0.0.1:5347", Secret: "from-the-environment"}},
		Logger:     slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	ch.SetAccounts([]xmpp.Account{{JID: "echo@example.com", Password: "from-the-store"}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = ch.Serve(ctx) }()

	// ... later:
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = ch.Shutdown(sctx) // drains conversations, then logs out
	cancel()
}
