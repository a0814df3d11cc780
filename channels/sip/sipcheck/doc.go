// Package sipcheck holds the checks RFC 3261 (§8.2, §16.3, §20) asks of a
// UAS that sipgo v1.7.2 leaves to the application: sipgo parses headers
// but does not refuse a request without To, with two CSeqs, a CSeq method
// that is not the request's, two differing Content-Lengths, an unknown SIP
// version or URI scheme, an unknown method or a Require it cannot meet.
//
// The SIP endpoint calls Request on every request sipgo parsed, before it
// dispatches it, and Response on every response:
//
//	switch v := sipcheck.Request(req); {
//	case v.OK:
//		// dispatch (405 for known methods the endpoint does not allow is its own)
//	case v.Drop:
//		// no answer (an ACK is never answered); log v.Reason
//	default:
//		res := sip.NewResponseFromRequest(req, v.Status, v.Reason, nil)
//		for k, val := range v.Headers {
//			res.AppendHeader(sip.NewHeader(k, val))
//		}
//		// send res statelessly
//	}
//
// Check lists the checks and their order. Which answers are whose:
// sipcheck gives 400, 415, 416, 420, 406, 501 and 505; the endpoint gives
// 404 (no such address), 405 with Allow (a method sipcheck knows but the
// endpoint does not serve, e.g. REGISTER), 481, 487, 483 (only when it
// would forward: Max-Forwards 0 is served by a UAS) and 503 (flood).
// Reasons are fixed ASCII text, never copied from the request, so they are
// safe on a status line; the Unsupported value lists only token-shaped
// option tags from the request.
//
// What a parser refuses never reaches these checks: sipgo's transports drop
// it unanswered (RFC 4475 allows dropping what it calls reject). The test
// runs the RFC 4475 and RFC 5118 messages in testdata (byte-exact; see
// their EXPECTATIONS.tsv) through sipgo's parser and these checks and
// compares every outcome with what the RFCs say; the one gap is novelsc.dat,
// whose scheme "soap.beep" sipgo refuses to parse (so no 416).
//
// Panics: Request, Check, Response and MaxForwards never panic on what
// sipgo parses or builds (FuzzRequest runs them on mutated corpus
// messages). sipgo's parser and handlers recover nothing, so the endpoint
// recovers around parsing and handling itself.
package sipcheck
