package sms_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms"
)

// Twilio's documented example of X-Twilio-Signature.
func ExampleSignature() {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}
	fmt.Println(sms.Signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params))
	// Output: 0/KCTR6DLpKmkAf8muzZqo1nDgQ=
}

func ExampleNew() {
	ch, err := sms.New(sms.Config{
		Handler: channels.HandlerFunc(func(c channels.Conversation) {
			_ = c.Send(c.Context(), "You said "+c.Info().InitialText)
		}),
		NewID: func() string { return "s1" },
		SMPP:  []sms.SMPPConfig{{Name: "main", Addr: "127.0.0.1:2775", SystemID: "chorus", Password: "secret"}},
		HTTP: []sms.HTTPConfig{{Name: "provider", BaseURL: "https://api.twilio.com", Account: "AC123",
			Token: "token", WebhookPath: "/v1/sms/provider"}},
		Receipt: func(_ context.Context, session, text string) { slog.Info("receipt", "session", session, "text", text) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ch.SetNumbers([]sms.Number{{Number: "+15557654321", Route: "main"}, {Number: "+15550002222", Route: "provider"}})
	mux := http.NewServeMux()
	for path, h := range ch.Webhooks() {
		mux.Handle(path, h)
	}
	fmt.Println(ch.State("+15550002222"))
	fmt.Println(ch.State("+15559999999"))
	_ = ch.Shutdown(context.Background())
	// Output:
	// connected HTTP provider https://api.twilio.com 0001-01-01 00:00:00 +0000 UTC
	// disabled the number is not bound to an app 0001-01-01 00:00:00 +0000 UTC
}
