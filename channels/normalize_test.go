package channels

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		n       Network
		in, out string
		bad     bool
	}{
		{SMS, "+1 (407) 555-1111", "+14075551111", false},
		{SMS, "14075551111", "+14075551111", false},
		{SMS, "tel:+14075551111", "+14075551111", false},
		{SMS, "call me", "", true},
		{SMS, "+1", "", true},
		{XMPP, "Alice@Example.ORG/phone", "alice@example.org", false},
		{XMPP, "@example.org", "", true},
		{Twitter, "@Weather", "@weather", false},
		{Twitter, "weather", "@weather", false},
		{Twitter, "@we ather", "", true},
		{Mastodon, "@Weather@Mastodon.Social", "@weather@mastodon.social", false},
		{Mastodon, "weather", "", true},
		{SIP, "sip:Alice@Example.org;transport=tcp", "sip:Alice@example.org", false},
		{SIP, "alice@example.org", "sip:alice@example.org", false},
		{SIP, "+14075551111", "+14075551111", false},
		{SIP, "sip:@x", "", true},
		{SIP, "sip:14075551111@Carrier.example", "sip:+14075551111@carrier.example", false},
		{SIP, "sip:+1-407-555-1111@x", "sip:+14075551111@x", false},
		{SIP, "sip:1@x", "", true},
		{Web, "weather", "weather", false},
		{Web, "a/b", "", true},
		{Web, "", "", true},
		{P2P, "bob", "bob", false},
	}
	for _, c := range cases {
		got, err := Normalize(c.n, c.in)
		if (err != nil) != c.bad || got != c.out {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q (error %v)", c.n, c.in, got, err, c.out, c.bad)
		}
	}
}

func TestParseNetwork(t *testing.T) {
	for in, want := range map[string]Network{"WEB": Web, "jabber": XMPP, "xmpp": XMPP, " Sms ": SMS} {
		if got, err := ParseNetwork(in); err != nil || got != want {
			t.Errorf("ParseNetwork(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseNetwork("fax"); err == nil || !strings.Contains(err.Error(), "fax") {
		t.Errorf("ParseNetwork(fax) error = %v", err)
	}
	if XMPP.LuaName() != "JABBER" || Web.LuaName() != "WEB" {
		t.Error("LuaName")
	}
}

// FuzzNormalize: normalising is idempotent and never panics.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+1 407 555 1111", "Alice@Example.org/x", "@Bob", "sip:a@b;x=y", "@u@i"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range Networks {
			out, err := Normalize(n, s)
			if err != nil {
				continue
			}
			again, err := Normalize(n, out)
			if err != nil || again != out {
				t.Fatalf("%s: Normalize(%q) = %q, then %q, %v", n, s, out, again, err)
			}
		}
	})
}
