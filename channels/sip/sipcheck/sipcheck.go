package sipcheck

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Verdict is what to do with one parsed request: OK (serve it), Drop (no
// answer; Reason says why for the log), or answer with Status and Reason,
// adding Headers (e.g. Unsupported with a 420).
type Verdict struct {
	OK      bool
	Drop    bool
	Status  int
	Reason  string
	Headers map[string]string
}

func (v Verdict) String() string {
	switch {
	case v.OK:
		return "OK"
	case v.Drop:
		return "drop (" + v.Reason + ")"
	}
	return fmt.Sprintf("%d %s", v.Status, v.Reason)
}

// Options say what the endpoint implements beyond RFC 3261.
type Options struct {
	// Supported lists the option tags the endpoint implements (compared
	// case-insensitively); a Require naming any other gets 420. Empty by
	// default: Chorus implements no extension that a peer may Require
	// (not "timer": nothing refreshes a session; not "100rel": no PRACK).
	Supported []string
	// SDP lists the media types accepted as session descriptions in
	// INVITE, UPDATE, PRACK and ACK bodies (default "application/sdp").
	SDP []string
}

// knownMethods are the methods sipcheck recognises: RFC 3261's and those
// of the extensions in the IANA registry a UA may meet.
var knownMethods = []sip.RequestMethod{
	sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.OPTIONS, sip.REGISTER,
	sip.PRACK, sip.SUBSCRIBE, sip.NOTIFY, sip.PUBLISH, sip.INFO, sip.REFER,
	sip.MESSAGE, sip.UPDATE,
}

// KnownMethods returns the methods sipcheck recognises: INVITE, ACK, BYE,
// CANCEL, OPTIONS, REGISTER, PRACK, SUBSCRIBE, NOTIFY, PUBLISH, INFO, REFER,
// MESSAGE, UPDATE. Any other gets 501 Not Implemented. Which of these the
// endpoint allows is its own business: it answers 405 Method Not Allowed
// with an Allow header for the others (e.g. REGISTER, SUBSCRIBE, PUBLISH on
// a Chorus endpoint).
func KnownMethods() []sip.RequestMethod { return slices.Clone(knownMethods) }

// IsKnownMethod reports whether m is one of KnownMethods (case-sensitive,
// as RFC 3261 says methods are; note that sipgo upper-cases the method of
// the request line when it parses).
func IsKnownMethod(m sip.RequestMethod) bool {
	for _, k := range knownMethods {
		if m == k {
			return true
		}
	}
	return false
}

// Request checks req with the default Options (no extensions supported).
func Request(req *sip.Request) Verdict { return Check(req, Options{}) }

// Check runs, in the order RFC 3261 §8.2 gives, the checks a UAS owes a
// request that sipgo's parser leaves to the application:
//
//   - SIP version other than SIP/2.0 (case-insensitive): 505, or 400 when
//     it is not a version at all.
//   - To, From, Call-ID, CSeq or Via missing: 400 naming the header. A
//     missing Max-Forwards is accepted as 70 (RFC 2543 peers, RFC 4475
//     §3.4.1), as are a missing From tag and Via branch.
//   - A method not in KnownMethods(): 501 Not Implemented (§8.2.1 leaves 405
//     for known methods to the endpoint).
//   - To, From, Call-ID, CSeq, Max-Forwards or Content-Type more than once
//     (also as comma-separated values, which sipgo reads as one To or From
//     with a strange parameter): 400 naming the header.
//   - CSeq method other than the request's: 400.
//   - Two differing Content-Length values, or one that is not the body's
//     length: 400. (sipgo frames a datagram by the last Content-Length, so
//     the other would be a guess.)
//   - A body without Content-Type: 400.
//   - Request-URI scheme other than sip, sips or tel: 416 (§8.2.2.1).
//   - Require naming an option tag not in Options.Supported: 420 with
//     Unsupported listing them (§8.2.2.3); ignored in CANCEL and ACK.
//     Proxy-Require is for proxies and ignored.
//   - Content-Encoding other than identity: 415 with Accept-Encoding.
//     INVITE, UPDATE, PRACK or ACK with a body that is not a session
//     description (Options.SDP): 415 with Accept (§8.2.3). MESSAGE bodies
//     are the endpoint's business (it knows what it turns into text).
//   - INVITE whose Accept excludes every Options.SDP type: 406 with a
//     Warning 399 (we could not answer the offer).
//
// Max-Forwards 0 is served: a UAS does not forward (only a proxy answers
// 483, RFC 4475 §3.3.11). An endpoint that starts a new leg from a request
// (a transfer bridged through Chorus) gives it MaxForwards(req)-1 and
// answers 483 itself when that is below 0 (RFC 7332).
//
// ACK never gets a response: every verdict on an ACK other than OK is
// Drop. A nil request is dropped. Check never panics on a request sipgo
// parsed or built; the caller still recovers around parsing and handling,
// which sipgo does not.
func Check(req *sip.Request, o Options) (v Verdict) {
	if req == nil {
		return Verdict{Drop: true, Reason: "no request"}
	}
	v = check(req, o)
	if !v.OK && req.Method == sip.ACK {
		v = Verdict{Drop: true, Reason: "ACK: " + v.String()}
	}
	return v
}

func check(req *sip.Request, o Options) Verdict {
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		if isVersion(req.SipVersion) {
			return Verdict{Status: 505, Reason: "Version Not Supported"}
		}
		return bad("Malformed SIP-Version")
	}
	h := count(req)
	for _, name := range []string{"to", "from", "call-id", "cseq", "via"} {
		if h.n[name] == 0 {
			return bad("Missing " + canonical[name] + " header")
		}
	}
	if !IsKnownMethod(req.Method) {
		return Verdict{Status: 501, Reason: "Not Implemented"}
	}
	for _, name := range []string{"to", "from", "call-id", "cseq", "max-forwards", "content-type"} {
		if h.n[name] > 1 {
			return bad("Duplicate " + canonical[name] + " header")
		}
	}
	// sipgo reads "To: <sip:a@x>, <sip:b@y>" as one To whose parameter
	// is named ", <sip:b@y>": a second value all the same.
	if to := req.To(); to == nil {
		return bad("Malformed To header")
	} else if v, ok := checkParams("To", to.Params); !ok {
		return v
	}
	if from := req.From(); from == nil {
		return bad("Malformed From header")
	} else if v, ok := checkParams("From", from.Params); !ok {
		return v
	}
	if cs := req.CSeq(); cs == nil || cs.MethodName != req.Method {
		return bad("CSeq method does not match the request method")
	}
	if v, ok := checkLength(req, h); !ok {
		return v
	}
	body := req.Body()
	if len(body) > 0 && h.n["content-type"] == 0 {
		return bad("Missing Content-Type header")
	}

	switch req.Recipient.Scheme {
	case "sip", "sips", "tel":
	default:
		return Verdict{Status: 416, Reason: "Unsupported URI Scheme"}
	}

	if req.Method != sip.CANCEL && req.Method != sip.ACK {
		var unsupported []string
		for _, hdr := range req.GetHeaders("require") {
			for _, tag := range strings.Split(hdr.Value(), ",") {
				tag = strings.TrimSpace(tag)
				if !isToken(tag) {
					return bad("Malformed Require header")
				}
				if !containsFold(o.Supported, tag) && !containsFold(unsupported, tag) {
					unsupported = append(unsupported, tag)
				}
			}
		}
		if len(unsupported) > 0 {
			return Verdict{Status: 420, Reason: "Bad Extension",
				Headers: map[string]string{"Unsupported": strings.Join(unsupported, ", ")}}
		}
	}

	sdp := o.SDP
	if len(sdp) == 0 {
		sdp = []string{"application/sdp"}
	}
	for _, name := range []string{"content-encoding", "e"} {
		for _, hdr := range req.GetHeaders(name) {
			for _, enc := range strings.Split(hdr.Value(), ",") {
				if enc = strings.TrimSpace(enc); !strings.EqualFold(enc, "identity") && enc != "" {
					return Verdict{Status: 415, Reason: "Unsupported Media Type",
						Headers: map[string]string{"Accept-Encoding": "identity"}}
				}
			}
		}
	}
	switch req.Method {
	case sip.INVITE, sip.UPDATE, sip.PRACK, sip.ACK:
		var ct string
		if h := req.ContentType(); h != nil {
			ct = string(*h)
		}
		if len(body) > 0 && !containsFold(sdp, mediaType(ct)) {
			return Verdict{Status: 415, Reason: "Unsupported Media Type",
				Headers: map[string]string{"Accept": strings.Join(sdp, ", ")}}
		}
	}
	if req.Method == sip.INVITE {
		if accepts := req.GetHeaders("accept"); len(accepts) > 0 && !acceptsAny(accepts, sdp) {
			return Verdict{Status: 406, Reason: "Not Acceptable",
				Headers: map[string]string{"Warning": `399 chorus "Accept allows no session description type; we answer with ` + sdp[0] + `"`}}
		}
	}
	return Verdict{OK: true}
}

func bad(reason string) Verdict { return Verdict{Status: 400, Reason: reason} }

// MaxForwards returns the request's Max-Forwards, 70 when it has none.
func MaxForwards(req *sip.Request) int {
	if req == nil {
		return 70
	}
	if mf := req.MaxForwards(); mf != nil {
		return int(min(uint32(*mf), 255))
	}
	return 70
}

// Response checks a response before sipgo's transactions match it: drop
// (with why, for the log) when it is not SIP/2.0, its status is outside
// 100..699, To, From, Call-ID, CSeq or Via is missing or one of the first
// four repeats, it has more than one Via (RFC 3261 §8.1.3.3: a UAC
// discards it; it was meant for a proxy, RFC 4475 §3.3.10), or its
// Content-Length values differ or do not match the body. A response is
// never answered. Response never panics and drops nil.
func Response(res *sip.Response) (drop bool, why string) {
	if res == nil {
		return true, "no response"
	}
	if !strings.EqualFold(res.SipVersion, "SIP/2.0") {
		return true, "SIP version is not SIP/2.0"
	}
	if res.StatusCode < 100 || res.StatusCode > 699 {
		return true, "status code outside 100..699"
	}
	h := count(res)
	for _, name := range []string{"to", "from", "call-id", "cseq", "via"} {
		if h.n[name] == 0 {
			return true, "missing " + canonical[name] + " header"
		}
	}
	for _, name := range []string{"to", "from", "call-id", "cseq", "max-forwards", "content-type"} {
		if h.n[name] > 1 {
			return true, "duplicate " + canonical[name] + " header"
		}
	}
	if h.n["via"] > 1 {
		return true, "more than one Via (RFC 3261 8.1.3.3)"
	}
	if v, ok := checkLength(res, h); !ok {
		return true, v.Reason
	}
	return false, ""
}

// headerCount counts the headers of a message by lower-case full name
// (compact forms sipgo parses are already full) and keeps the
// Content-Length values.
type headerCount struct {
	n       map[string]int
	lengths []uint32
}

var canonical = map[string]string{
	"to": "To", "from": "From", "call-id": "Call-ID", "cseq": "CSeq", "via": "Via",
	"max-forwards": "Max-Forwards", "content-type": "Content-Type", "content-length": "Content-Length",
}

func count(m sip.Message) headerCount {
	h := headerCount{n: make(map[string]int, 12)}
	for _, hdr := range messageHeaders(m) {
		if hdr == nil {
			continue
		}
		name := sip.HeaderToLower(hdr.Name())
		switch name { // compact forms of headers sipgo keeps generic
		case "c":
			name = "content-type"
		case "l":
			name = "content-length"
		}
		h.n[name]++
		if name == "content-length" {
			switch cl := hdr.(type) {
			case *sip.ContentLengthHeader:
				h.lengths = append(h.lengths, uint32(*cl))
			default:
				v, err := strconv.ParseUint(strings.TrimSpace(hdr.Value()), 10, 32)
				if err != nil {
					v = 1<<32 - 1 // malformed: cannot match a body
				}
				h.lengths = append(h.lengths, uint32(v))
			}
		}
	}
	return h
}

func messageHeaders(m sip.Message) []sip.Header {
	switch m := m.(type) {
	case *sip.Request:
		return m.Headers()
	case *sip.Response:
		return m.Headers()
	}
	return nil
}

func checkLength(m sip.Message, h headerCount) (Verdict, bool) {
	for _, l := range h.lengths[min(1, len(h.lengths)):] {
		if l != h.lengths[0] {
			return bad("Content-Length values differ"), false
		}
	}
	if len(h.lengths) > 0 && int64(h.lengths[0]) != int64(len(m.Body())) {
		return bad("Content-Length does not match the body"), false
	}
	return Verdict{}, true
}

// isVersion reports whether s looks like SIP/1*DIGIT.1*DIGIT.
func isVersion(s string) bool {
	if len(s) < 7 || !strings.EqualFold(s[:4], "SIP/") {
		return false
	}
	major, minor, ok := strings.Cut(s[4:], ".")
	return ok && isDigits(major) && isDigits(minor)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isToken: RFC 3261 token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~").
func isToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkParams checks that the parameters of a To or From are named by
// tokens (LWS around them is allowed, and sipgo leaves an empty name
// where LWS precedes the ';').
func checkParams(header string, p sip.HeaderParams) (Verdict, bool) {
	for _, kv := range p {
		k := strings.Trim(kv.K, " \t")
		if strings.Contains(k, ",") {
			return bad("Duplicate " + header + " header"), false
		}
		if k != "" && !isToken(k) {
			return bad("Malformed " + header + " header"), false
		}
	}
	return Verdict{}, true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// mediaType returns "type/subtype" of a Content-Type or Accept value,
// without parameters, lower-case.
func mediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// acceptsAny reports whether the Accept headers admit one of types (or
// are empty, which RFC 3261 §20.1 reads as "nothing"; we read an empty
// header as no preference, as most stacks do).
func acceptsAny(accepts []sip.Header, types []string) bool {
	empty := true
	for _, hdr := range accepts {
		for _, r := range strings.Split(hdr.Value(), ",") {
			r = mediaType(r)
			if r == "" {
				continue
			}
			empty = false
			if r == "*/*" {
				return true
			}
			for _, t := range types {
				t = strings.ToLower(t)
				if r == t || (strings.HasSuffix(r, "/*") && strings.HasPrefix(t, r[:len(r)-1])) {
					return true
				}
			}
		}
	}
	return empty
}
