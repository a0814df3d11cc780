package xmpp

import (
	"fmt"
	"io"
)

// Limits on what a server may send on one stream.
const (
	// MaxStanza bounds one stanza (and the bytes between two stanzas).
	MaxStanza = 256 << 10
	// MaxDepth bounds element nesting below the stream root.
	MaxDepth = 64
	// MaxText bounds the text of one inbound message; longer ones are cut.
	MaxText = 16 << 10
	// maxStreamStarts bounds the stream headers of one connection: the
	// first, and the restarts after STARTTLS and SASL. A decoder behind the
	// guard nests one element deeper at each (the old stream is never
	// closed), so without a bound a server could nest without end.
	maxStreamStarts = 4
)

// GuardError is why a stream was reset: the server sent something an XMPP
// stream must not carry (RFC 6120 §11.1) or something too big.
type GuardError struct{ Reason string }

func (e *GuardError) Error() string { return "hostile or broken XML from the server: " + e.Reason }

type gstate uint8

const (
	gText     gstate = iota // character data (or nothing) between tags
	gLt                     // just read '<'
	gStart                  // inside a start tag
	gEnd                    // inside an end tag
	gBang                   // read "<!": only "<![CDATA[" may follow
	gCDATA                  // inside a CDATA section
	gPI                     // inside "<?...?>"
	gPITarget               // reading the target of "<?"
)

// guard follows the byte stream a server sends just closely enough to know
// where stanzas begin and end, so that it can bound each one before an XML
// decoder buffers it. It rejects, as RFC 6120 §11.1 asks, DTDs (and with
// them every entity trick), comments and processing instructions other than
// the XML declaration. Anything else that is malformed is left to the
// decoder behind it, which fails on it; the guard never needs more memory
// than its fixed fields, whatever it is fed.
type guard struct {
	max   int
	st    gstate
	depth int  // 0 before the stream root, 1 between stanzas
	n     int  // bytes since the last stanza ended
	quote byte // inside an attribute value
	slash bool // the last byte of a start tag was '/'
	match int  // progress through "[CDATA[", "]]>" or "?>"
	// name holds the start of a depth-1 start tag's name: "stream:stream"
	// there restarts the stream (after STARTTLS and SASL).
	name    [16]byte
	nameN   int
	naming  bool
	target  [4]byte // the first bytes of a PI target
	targetN int
	starts  int // stream headers seen
	err     error
}

func newGuard() *guard { return &guard{max: MaxStanza} }

const cdataOpen = "[CDATA["

// feed checks p, the next bytes of the stream. Once it returns an error it
// returns the same error forever.
func (g *guard) feed(p []byte) error {
	if g.err != nil {
		return g.err
	}
	for _, b := range p {
		g.n++
		if g.n > g.max {
			if g.depth >= 2 {
				return g.fail(fmt.Sprintf("a stanza larger than %d KiB", g.max>>10))
			}
			return g.fail(fmt.Sprintf("more than %d KiB outside any stanza", g.max>>10))
		}
		switch g.st {
		case gText:
			if b == '<' {
				g.st = gLt
			}
		case gLt:
			switch {
			case b == '/':
				g.st = gEnd
			case b == '!':
				g.st, g.match = gBang, 0
			case b == '?':
				if g.depth >= 2 {
					return g.fail("a processing instruction inside a stanza")
				}
				g.st, g.targetN = gPITarget, 0
			default:
				g.st, g.slash, g.quote = gStart, false, 0
				g.naming = g.depth <= 1
				g.nameN = 0
				if g.naming {
					g.addName(b)
				}
			}
		case gStart:
			if g.quote != 0 {
				if b == g.quote {
					g.quote = 0
				}
				continue
			}
			switch b {
			case '"', '\'':
				g.quote, g.slash, g.naming = b, false, false
			case '/':
				g.slash, g.naming = true, false
			case '>':
				g.st = gText
				if err := g.startTag(); err != nil {
					return err
				}
			case ' ', '\t', '\r', '\n':
				g.slash, g.naming = false, false
			default:
				g.slash = false
				if g.naming {
					g.addName(b)
				}
			}
		case gEnd:
			if b == '>' {
				g.st = gText
				g.depth--
				if g.depth <= 1 {
					g.n = 0 // a stanza (or the stream) ended
				}
				if g.depth < 0 {
					g.depth = 0
				}
			}
		case gBang:
			if b != cdataOpen[g.match] || g.depth < 2 {
				switch {
				case g.match == 0 && b == '-':
					return g.fail("an XML comment (forbidden in XMPP)")
				case g.match == 0 && b == 'D':
					return g.fail("a DOCTYPE declaration (forbidden in XMPP)")
				case g.match == 0 && b == 'E':
					return g.fail("an ENTITY declaration (forbidden in XMPP)")
				}
				return g.fail("a markup declaration \"<!\" (forbidden in XMPP)")
			}
			g.match++
			if g.match == len(cdataOpen) {
				g.st, g.match = gCDATA, 0
			}
		case gCDATA:
			switch {
			case b == ']' && g.match < 2:
				g.match++
			case b == ']':
				// "]]]": still two brackets before a possible '>'
			case b == '>' && g.match == 2:
				g.st, g.match = gText, 0
			default:
				g.match = 0
			}
		case gPITarget:
			if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
				if string(g.target[:g.targetN]) != "xml" {
					return g.fail("a processing instruction (forbidden in XMPP)")
				}
				// An XML declaration: a stream (re)starts with it.
				g.st, g.match, g.depth = gPI, 0, 0
				continue
			}
			if g.targetN == len(g.target) {
				return g.fail("a processing instruction (forbidden in XMPP)")
			}
			g.target[g.targetN] = b
			g.targetN++
		case gPI:
			switch {
			case b == '?':
				g.match = 1
			case b == '>' && g.match == 1:
				g.st, g.match = gText, 0
				g.n = 0
			default:
				g.match = 0
			}
		}
	}
	return nil
}

func (g *guard) addName(b byte) {
	if g.nameN < len(g.name) {
		g.name[g.nameN] = b
		g.nameN++
	} else {
		g.nameN = len(g.name) + 1 // too long to be "stream:stream"
	}
}

// startTag ends a start tag.
func (g *guard) startTag() error {
	isStream := g.nameN == len("stream:stream") && string(g.name[:g.nameN]) == "stream:stream"
	switch {
	case g.depth == 0 && !isStream:
		return g.fail("an element outside the stream (want <stream:stream>)")
	case g.depth == 0 || (g.depth == 1 && isStream):
		// The stream root, or a new one after a restart.
		if g.starts++; g.starts > maxStreamStarts {
			return g.fail(fmt.Sprintf("a stream restarted more than %d times", maxStreamStarts-1))
		}
		if !g.slash {
			g.depth = 1
		}
		g.n = 0
		return nil
	case g.slash:
		if g.depth == 1 {
			g.n = 0 // an empty stanza: <presence/>
		}
		return nil
	}
	g.depth++
	if g.depth-1 > MaxDepth {
		return g.fail(fmt.Sprintf("elements nested deeper than %d", MaxDepth))
	}
	return nil
}

func (g *guard) fail(reason string) error {
	g.err = &GuardError{Reason: reason}
	return g.err
}

// guardReader checks what it reads with a guard.
type guardReader struct {
	r io.Reader
	g *guard
}

func (r *guardReader) Read(p []byte) (int, error) {
	if r.g.err != nil {
		return 0, r.g.err
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if gerr := r.g.feed(p[:n]); gerr != nil {
			return 0, gerr
		}
	}
	return n, err
}
