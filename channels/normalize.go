package channels

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize returns id in the form addresses of network n are stored and
// compared in:
//   - sms, and sip/p2p numbers: E.164 ("+" and digits; a number without "+"
//     is taken as E.164 written without the plus); separators " -.()" dropped;
//   - xmpp: lower-case bare JID (the resource is dropped);
//   - twitter: lower case with one leading "@"; mastodon: "@user@instance";
//   - sip: "sip:user@domain" (lower-case domain, parameters dropped), or an
//     E.164 number when the user part is one and no domain is given;
//   - web, p2p: trimmed, as written.
func Normalize(n Network, id string) (string, error) {
	out, err := normalize(n, id)
	if err == nil && len(out) > 256 {
		return "", fmt.Errorf("%s address is longer than 256 bytes", n)
	}
	return out, err
}

func normalize(n Network, id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", fmt.Errorf("empty %s address", n)
	}
	if !utf8.ValidString(id) {
		return "", fmt.Errorf("%s address is not valid UTF-8", n)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return unicode.IsControl(r) }) {
		return "", fmt.Errorf("%s address %q has control characters", n, id)
	}
	if len(id) > 1024 {
		return "", fmt.Errorf("%s address is longer than 256 bytes", n)
	}
	switch n {
	case SMS:
		return NormalizeNumber(id)
	case XMPP:
		return normalizeJID(id)
	case Twitter:
		h := strings.ToLower(strings.TrimLeft(id, "@"))
		if h == "" || strings.ContainsAny(h, "@ /:") {
			return "", fmt.Errorf("twitter handle %q: want @name", id)
		}
		return "@" + h, nil
	case Mastodon:
		h := strings.ToLower(strings.TrimLeft(id, "@"))
		user, inst, ok := strings.Cut(h, "@")
		if !ok || user == "" || inst == "" || strings.ContainsAny(h, " /:") || strings.Contains(inst, "@") {
			return "", fmt.Errorf("mastodon handle %q: want @user@instance", id)
		}
		return "@" + user + "@" + inst, nil
	case SIP:
		return normalizeSIP(id)
	case Web, P2P:
		if strings.ContainsAny(id, "/ ") && n == Web {
			return "", fmt.Errorf("web address %q: no spaces or slashes", id)
		}
		return id, nil
	}
	return "", &UnknownNetworkError{Name: string(n)}
}

// IsNumber reports whether id (normalised) is an E.164 number.
func IsNumber(id string) bool {
	if len(id) < 2 || id[0] != '+' {
		return false
	}
	for _, r := range id[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// NormalizeNumber turns a phone number into E.164.
func NormalizeNumber(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "tel:")
	var b strings.Builder
	b.WriteByte('+')
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", fmt.Errorf("phone number %q: only digits, a leading + and separators are allowed", s)
		}
	}
	out := b.String()
	if len(out) < 3 || len(out) > 16 {
		return "", fmt.Errorf("phone number %q: E.164 numbers have 2 to 15 digits", s)
	}
	return out, nil
}

func normalizeJID(s string) (string, error) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	s = strings.ToLower(s)
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		domain, local = local, ""
	} else if local == "" {
		return "", fmt.Errorf("jid %q: empty user part before @", s)
	}
	if domain == "" || strings.ContainsAny(domain, "@ ") || strings.ContainsAny(local, " \"&'/:<>") {
		return "", fmt.Errorf("jid %q: want user@domain", s)
	}
	if local == "" {
		return domain, nil
	}
	return local + "@" + domain, nil
}

func normalizeSIP(s string) (string, error) {
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		if !strings.Contains(s, "@") {
			if n, err := NormalizeNumber(s); err == nil {
				return n, nil
			}
		}
		s = "sip:" + s
		lower = "sip:" + lower
	}
	rest := s[strings.IndexByte(s, ':')+1:]
	if i := strings.IndexAny(rest, ";?>"); i >= 0 {
		rest = rest[:i]
	}
	user, host, ok := strings.Cut(rest, "@")
	if !ok || user == "" || host == "" || strings.ContainsAny(rest, " <\"") {
		return "", fmt.Errorf("sip address %q: want sip:user@domain or an E.164 number", s)
	}
	if i := strings.IndexByte(user, ':'); i >= 0 { // user:password
		user = user[:i]
	}
	if user == "" {
		return "", fmt.Errorf("sip address %q: empty user part", s)
	}
	if numericUser(user) { // a telephone-number user: E.164 like every number
		n, err := NormalizeNumber(user)
		if err != nil {
			return "", fmt.Errorf("sip address %q: %w", s, err)
		}
		user = n
	}
	return "sip:" + user + "@" + strings.ToLower(host), nil
}

// numericUser reports whether a SIP user part is a telephone number: digits,
// an optional leading "+", and visual separators.
func numericUser(u string) bool {
	digits := 0
	for i, r := range u {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == '-', r == '.', r == '(', r == ')':
		default:
			return false
		}
	}
	return digits > 0
}

// SIPUser returns the user part of a normalised sip address (or the number).
func SIPUser(id string) string {
	if !strings.HasPrefix(id, "sip:") {
		return id
	}
	u, _, _ := strings.Cut(id[4:], "@")
	return u
}
