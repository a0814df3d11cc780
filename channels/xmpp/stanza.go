package xmpp

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Namespaces.
const (
	nsStream   = "http://etherx.jabber.org/streams"
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	nsClient   = "jabber:client"
	nsAccept   = "jabber:component:accept"
	nsRoster   = "jabber:iq:roster"
	nsPing     = "urn:xmpp:ping"
	nsDiscoInf = "http://jabber.org/protocol/disco#info"
)

// MaxReply bounds the text of one outgoing message; longer ones are cut.
const MaxReply = 64 << 10

// esc escapes s for XML text and attribute values (either quote). Invalid
// UTF-8 and characters XML 1.0 cannot carry become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteString("\uFFFD")
			i++
			continue
		}
		i += size
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString("&#xD;")
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			b.WriteString("\uFFFD")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cut shortens s to at most n bytes on a UTF-8 boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func newStanzaID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// chatStanza is one outgoing chat message. from is empty on a client stream
// (the server stamps it).
func chatStanza(from, to, text, thread string) string {
	var b strings.Builder
	b.WriteString("<message type='chat' id='")
	b.WriteString(newStanzaID())
	b.WriteString("' to='")
	b.WriteString(esc(to))
	if from != "" {
		b.WriteString("' from='")
		b.WriteString(esc(from))
	}
	b.WriteString("'><body>")
	b.WriteString(esc(cut(text, MaxReply)))
	b.WriteString("</body>")
	if thread != "" {
		b.WriteString("<thread>")
		b.WriteString(esc(thread))
		b.WriteString("</thread>")
	}
	b.WriteString("</message>")
	return b.String()
}

// errorStanza answers a stanza (kind "message", "presence" or "iq") with an
// error of type typ ("cancel", "wait", ...) and a defined condition.
func errorStanza(kind, from, to, id, typ, condition, text string) string {
	var b strings.Builder
	b.WriteString("<")
	b.WriteString(kind)
	b.WriteString(" type='error' to='")
	b.WriteString(esc(to))
	if from != "" {
		b.WriteString("' from='")
		b.WriteString(esc(from))
	}
	if id != "" {
		b.WriteString("' id='")
		b.WriteString(esc(id))
	}
	b.WriteString("'><error type='")
	b.WriteString(typ)
	b.WriteString("'><")
	b.WriteString(condition)
	b.WriteString(" xmlns='" + nsStanzas + "'/>")
	if text != "" {
		b.WriteString("<text xmlns='" + nsStanzas + "' xml:lang='en'>")
		b.WriteString(esc(text))
		b.WriteString("</text>")
	}
	b.WriteString("</error></")
	b.WriteString(kind)
	b.WriteString(">")
	return b.String()
}

// presenceStanza is a presence of type typ ("" for available).
func presenceStanza(from, to, typ string) string {
	var b strings.Builder
	b.WriteString("<presence")
	if from != "" {
		b.WriteString(" from='" + esc(from) + "'")
	}
	if to != "" {
		b.WriteString(" to='" + esc(to) + "'")
	}
	if typ != "" {
		b.WriteString(" type='" + esc(typ) + "'")
	}
	b.WriteString("/>")
	return b.String()
}

// iqResult answers an iq get/set with an empty result (or payload).
func iqResult(from, to, id, payload string) string {
	var b strings.Builder
	b.WriteString("<iq type='result'")
	if from != "" {
		b.WriteString(" from='" + esc(from) + "'")
	}
	if to != "" {
		b.WriteString(" to='" + esc(to) + "'")
	}
	b.WriteString(" id='" + esc(id) + "'")
	if payload == "" {
		b.WriteString("/>")
		return b.String()
	}
	b.WriteString(">" + payload + "</iq>")
	return b.String()
}

// bare returns the bare JID of a full one, as channels.Normalize would not
// (it keeps the case): "User@Host/res" -> "User@Host".
func splitJID(full string) (bare, resource string) {
	bare, resource, _ = strings.Cut(full, "/")
	return bare, resource
}

// domainOf returns the domain part of a bare JID.
func domainOf(jid string) string {
	if i := strings.LastIndexByte(jid, '@'); i >= 0 {
		return jid[i+1:]
	}
	return jid
}

// localOf returns the local part of a bare JID ("" for a domain).
func localOf(jid string) string {
	if i := strings.LastIndexByte(jid, '@'); i >= 0 {
		return jid[:i]
	}
	return ""
}
