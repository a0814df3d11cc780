// Package smstest holds test peers for the SMS channel, reusable by any
// package's tests (channels/sms, cmd/chorus, bench):
//
//   - StartSMSC runs a real SMSC: e2e/smsc.mjs on the npm smpp package
//     (node and e2e/node_modules, installed by `make test-deps`). The test
//     plays the phone's side: MO sends a message to a Chorus number,
//     NextSubmit / NextText wait for what Chorus sent (NextText joins
//     concatenated parts), Receipt sends a delivery receipt for a
//     message_id, Drop cuts the link, Pause / Resume refuse connections
//     for a while. The SMSC listens on 127.0.0.1 on a free port (Addr) and
//     is killed by PID when the test ends.
//
//   - NewFakeProvider is a local HTTP server with the request and
//     response shapes of Twilio's Messages API (basic auth, form To/From/
//     Body, 201 with "sid", error JSON {"code","message","more_info",
//     "status"}); Fail queues error answers; Inbound and Status post signed
//     webhooks the way the provider does; Sign computes X-Twilio-Signature.
//
// Usage:
//
//	smsc := smstest.StartSMSC(t, "chorus", "secret")
//	// ... sms.New(sms.Config{SMPP: []sms.SMPPConfig{{Name: "main", Addr: smsc.Addr(), SystemID: "chorus", Password: "secret"}}, ...})
//	smsc.MO("+15550001111", "+15557654321", "32801")
//	text, _, err := smsc.NextText(ctx, "+15550001111")
package smstest
