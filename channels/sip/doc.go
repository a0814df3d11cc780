// Package sip is the SIP channel: apps answer phone calls (INVITE, with
// RTP media) and SIP text messages (MESSAGE, RFC 3428) at addresses of
// network "sip", sip:app@Domain.
//
// It is built on github.com/emiago/sipgo (transport, transactions,
// dialogs); the media (SDP offer/answer, G.711 RTP paced every 20 ms,
// RFC 4733 and SIP INFO DTMF) is the channel's own code on pion/rtp and
// zaf/g711.
//
//	ch, err := sip.New(sip.Config{
//		Handler: engine,                // a channels.Handler
//		NewID:   ids.New,
//		Listen:  "0.0.0.0:5060",        // UDP and TCP; port 0 picks a free one (see Addr)
//		TLSListen: "0.0.0.0:5061",      // optional SIP over TLS, with TLSConfig (see TLSAddr)
//		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
//		WSListen:  "0.0.0.0:8088",      // optional SIP over WebSocket, RFC 7118 (see WSAddr)
//		Domain:  "chorus.example.org",  // apps are sip:<app>@chorus.example.org
//		TTS:     synth,                 // *tts.Synth: what Play speaks
//		Resolve: func(ctx context.Context, a channels.Address) (bool, error) { ... },
//		SaveRecording: store.SaveRecording,
//	})
//	go ch.Serve(ctx)
//	defer ch.Shutdown(shutdownCtx)
//
// # Transports
//
// Requests arrive on UDP and TCP at Listen, and when configured on TLS at
// TLSListen and on WebSocket (ws://, subprotocol "sip") at WSListen. Our
// Contact names the transport and listener a request came on; requests we
// send in a TLS or WebSocket dialog (BYE, REFER) go back over the
// connection the caller opened (its Contact is often not reachable, e.g.
// a browser's *.invalid). The media is RTP over UDP whatever the
// signalling transport.
//
// # Addresses
//
// A request reaches an app when its Request-URI user part is the app's
// and its host is Domain or one of our listen addresses; the app address
// is channels.Normalize(SIP, "sip:user@Domain") (numeric users become E.164
// numbers: sip:+14075551111@Domain). Resolve says whether an app is bound
// there: OPTIONS then gets 200 and INVITE/MESSAGE go to the handler;
// otherwise 404.
//
// # Calls
//
// An INVITE with an SDP offer (PCMU or PCMA, telephone-event when offered)
// becomes a channels.Call handed to the Handler before it is answered: the
// first Play/Collect (or Answer) answers it. An INVITE without SDP (late
// offer, RFC 3261 13.2.1) is answered with our offer (PCMU, PCMA,
// telephone-event 101) in the 200 and the ACK's SDP is taken as the
// answer; an ACK without a usable answer ends the call with BYE. A body
// that is not SDP gets 415. Info carries the From URI's
// address and display name, the Request-URI and every SIP header.
//
//   - Play speaks text through the tts.Synth (or plays an http(s) WAV URL),
//     streamed as 20 ms RTP packets; with BargeIn a key stops it and is kept
//     for the next Collect.
//   - Collect gathers keys from RFC 4733 events (a tolerant reader: events
//     are told apart by their RTP timestamp, so a first packet of duration 0
//     or an event seen only by its end packets still counts once) and from
//     SIP INFO (application/dtmf-relay, application/dtmf).
//   - Record beeps, records until silence after speech, a terminator key or
//     MaxTime (time without packets counts as silence) and hands the WAV
//     (8 kHz mono) to Config.SaveRecording, whose URI the app gets.
//   - Transfer sends REFER when the caller's INVITE allows it and waits for
//     the NOTIFY of the new call; otherwise (or when the REFER fails) it
//     calls the target and bridges the audio of the two legs until one
//     hangs up (the target hanging up returns the caller to the app).
//   - Reject (486/603), Redirect (302 with Contact), Hangup (BYE).
//   - CANCEL before the answer: 487 and the call's context ends; a BYE from
//     the far end ends it at once; a re-INVITE (hold/resume) is answered
//     without dropping the call; no RTP for RTPTimeout tears it down.
//   - When the handler returns the channel sends BYE (or 480 if it never
//     answered). A handler panic is recovered: the caller hears a short
//     apology and BYE.
//
// Inbound RTP is heard only from the address in the far end's SDP (any
// source when that address is unspecified, as in an RFC 2543 hold):
// packets from elsewhere are dropped (the first is logged) and neither
// carry keys nor keep a call alive. Config.RTPLatch turns on symmetric
// RTP latching for far ends behind NAT: the first source after each
// offer/answer becomes the far end, our RTP goes to it, and only it is
// heard.
//
// All calls' RTP leaves from one pacer goroutine per channel on a common
// 20 ms schedule (it sleeps to just before a burst and spins the rest). The
// slot is split into 4 bursts (0, 5, 10, 15 ms); a call joins the burst with
// the fewest calls and keeps its place in it for its whole life, so each
// stream's packets stay at the same offset of their slot however many calls
// come and go.
//
// # Bad input
//
// Every request passes the flood limiter (Config.Flood: 503 over the rate,
// nothing for a banned source; in-dialog requests of live calls are
// exempt) and sipcheck's RFC 3261 checks (400/415/416/420/501/505 or drop)
// before it is dispatched; a panic in a request handler is answered 500.
//
// Dial places an outbound call (call() in a script) and returns it
// answered; the caller closes it.
//
// # Text
//
// MESSAGE requests (text/plain) go through channels/thread: one
// conversation per (app, sender), Info.Voice false, and what the app sends
// goes back as MESSAGE to where the sender's request came from.
// SendMessage sends one outside any conversation.
//
// # Tests
//
// Package siptest runs sipp scenarios (testdata/*.xml) against a channel:
// see its documentation.
package sip
