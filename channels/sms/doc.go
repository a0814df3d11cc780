// Package sms is the SMS channel: text messages to and from E.164 numbers,
// over SMPP 3.4 links to operators' SMSCs (github.com/linxGnu/gosmpp) and
// over web-API providers of the Twilio shape. Conversations are run by
// channels/thread, one per (our number, their number).
//
// # Use
//
//	ch, err := sms.New(sms.Config{
//		Handler: engine, NewID: newID, Logger: log,
//		SMPP: []sms.SMPPConfig{{Name: "main", Addr: "smsc:2775", SystemID: "chorus", Password: pw}},
//		HTTP: []sms.HTTPConfig{{Name: "provider", BaseURL: "https://api.twilio.com", Account: "AC..", Token: tok, WebhookPath: "/v1/sms/provider"}},
//		Receipt: func(ctx context.Context, session, text string) { ... }, // "delivered", "failed: UNDELIV (err 001)"
//	})
//	ch.SetNumbers([]sms.Number{{Number: "+15557654321", Route: "main"}}) // any time, e.g. when addresses change
//	for path, h := range ch.Webhooks() { mux.Handle(path, h) }           // the HTTP providers' webhooks
//	go ch.Serve(ctx)                                                      // binds the SMPP links
//	...
//	ch.Shutdown(ctx) // drains conversations, then unbinds
//
// A number is reachable once SetNumbers binds it to a route (an SMPP link
// or HTTP provider name); State reports that route's state for the API.
// What the app sends from a number goes out on its route, whatever route
// the message came in on.
//
// # SMPP
//
// Each link is one transceiver bind (system_id, password, system_type),
// kept up by Serve: enquire_link every 30 s (a link silent for 90 s is
// dropped), and on a drop a rebind after
// 1 s, then with doubling backoff up to 60 s while binds fail. State shows
// "connecting" during a bind, "connected", or "failed" with the reason
// (bind refused with status X, unreachable, ...) and the next attempt's
// time. gosmpp's own auto-rebind is not used (its fixed interval and
// silence would hide this), nor its windowed request tracking (it drops a
// PDU when its window is full): the link keeps its own window of Window
// submit_sm awaiting their resp, matched by sequence number.
//
// Outbound: text that fits GSM 03.38 (extension characters such as € count
// two septets) goes as data_coding 0 (the SMSC default alphabet, one
// septet per octet), any other as UCS-2 (UTF-16BE, surrogate pairs beyond
// U+FFFF). Longer than one SMS (160 septets / 70 units), it is split into
// parts of 153 septets / 67 units with a concatenation UDH (8-bit
// reference, one per message and link), never cutting an escape or a
// surrogate pair, submitted in order, each after the previous one's resp.
// Numbers go out without "+", TON international, NPI E.164. Every submit
// asks for a receipt (registered_delivery 1) and waits for a token of the
// link's rate (SubmitPerSecond; submits are spaced 1/rate apart) and a
// window slot, both bounded by the sender's context. ESME_RTHROTTLED and
// ESME_RMSGQFUL are retried after a pause (up to 4 attempts).
//
// Inbound: deliver_sm (and data_sm) to a bound number start or continue a
// conversation (From = source_addr, To = destination_addr, normalised to
// E.164); to a number not bound they are logged and acknowledged, not
// delivered. Text is decoded by data_coding (GSM 03.38, IA5, Latin-1,
// ISO-8859-5/8, UCS-2, and the GSM data coding groups). Concatenated
// parts (UDH 8/16-bit reference or sar_* TLVs) wait for each other, up to
// 1,000 messages for 2 minutes; an incomplete one is then delivered with
// the parts that came (logged). When the conversation cannot take a
// message (queue full, too many conversations, shutting down) the resp is
// ESME_RX_T_APPN, so the SMSC delivers it again later.
//
// Delivery receipts (esm_class receipt or intermediate-notification bits)
// are not messages: the id (receipted_message_id TLV, else the body's
// "id:") is looked up among the message ids of our submit_sm_resps (last
// 100,000, at most 72 h old; an id in the other base, decimal for hex, is
// found too) and Config.Receipt records "delivered" once every part of the
// message is, or the first failure ("failed: UNDELIV (err 001)") on the
// session that sent it (Message.SessionID). Intermediate states (ENROUTE,
// ACCEPTD) are not recorded.
//
// # A link that drops loses no reply
//
// Replies are queued, bounded, while a link is down: a send waits for the
// link to come back for up to 2 minutes (or until its context ends), and
// at most 1,000 sends wait per link; past that it fails with an error
// wrapping channels.ErrUnavailable or ErrQueueFull, logged. A submit_sm
// whose link dropped before its resp is submitted again after the rebind
// (at least once: the SMSC may have taken the first one). When the SMSC
// refused the bind (wrong credentials), sends fail at once with the
// refusal instead of waiting.
//
// # HTTP providers (Twilio shape)
//
// The inbound webhook (WebhookPath) takes POST forms From, To, Body (and
// MessageSid...) signed with X-Twilio-Signature: base64(HMAC-SHA1(token,
// URL + sorted POST names and values)). The URL is rebuilt from the
// request: https when r.TLS is set or X-Forwarded-Proto says so, the Host
// header, and the request URI (a proxy must not rewrite the path); the
// default port is tried both with and without. Unsigned, forged, or
// signed for another URL or other parameters: 403, logged, nothing else
// happens. A valid one is delivered and answered 200 with an empty TwiML
// <Response/> (text/xml): replies go out through the REST API, POST
// {BaseURL}/2010-04-01/Accounts/{Account}/Messages.json with basic auth
// and form To, From, Body (texts over 1,600 characters in several
// messages). 201 gives the message sid; a 5xx or 429 is retried once after
// Retry-After (or 1 s) when the sender's context leaves time; other errors
// are a *ProviderError with the provider's code and message.
//
// Status callbacks: once a signed webhook has shown the URL the provider
// reaches us at, outbound messages carry StatusCallback = that URL +
// "/status", served by WebhookPath+"/status" (signed the same way);
// "delivered", "undelivered" and "failed" become receipts like SMPP's.
//
// # Goroutines and bounds
//
// Serve owns one goroutine per SMPP link (plus gosmpp's reader and writer
// per bind) and returns after they unbind. Timers of waiting concatenated
// parts stop at Shutdown. Handlers of conversations are owned by
// channels/thread. Config.Receipt is called on the link's reader
// goroutine or the status webhook's, with a 5 s context.
//
// Known gaps: gosmpp parses a deliver_sm whose UDH is malformed as a
// broken stream and closes the bind (the link rebinds); a data_coding
// gosmpp does not know (outside 0-8) reaches us without its value and is
// read as GSM 03.38 (logged).
//
// Test peers are in channels/sms/smstest: a real SMSC (e2e/smsc.mjs on the
// npm smpp package) and a fake of the Twilio API.
package sms
