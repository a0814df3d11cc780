package httpmod

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestRefusedKind(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":              "loopback",
		"127.255.0.9":            "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback",
		"10.0.0.1":               "private",
		"172.16.0.1":             "private",
		"172.31.255.255":         "private",
		"192.168.1.1":            "private",
		"fd00:ec2::254":          "private",
		"fc00::1":                "private",
		"169.254.169.254":        "link-local",
		"::ffff:169.254.169.254": "link-local",
		"fe80::1":                "link-local",
		"fe80::1%eth0":           "link-local",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"::ffff:0.0.0.0":         "unspecified",
		"0.1.2.3":                "reserved",
		"224.0.0.1":              "multicast",
		"239.255.255.250":        "multicast",
		"ff02::1":                "multicast",
		"ff0e::1":                "multicast",
		"100.64.0.1":             "shared (CGNAT)",
		"100.100.100.200":        "shared (CGNAT)",
		"100.127.255.255":        "shared (CGNAT)",
		"192.0.0.192":            "reserved",
		"192.0.2.1":              "documentation",
		"198.18.0.1":             "benchmarking",
		"203.0.113.9":            "documentation",
		"240.0.0.1":              "reserved",
		"255.255.255.255":        "reserved",
		"168.63.129.16":          "cloud metadata",
		"::127.0.0.1":            "reserved", // IPv4-compatible, deprecated
		"::2":                    "reserved",
		"fec0::1":                "reserved",
		"100::1":                 "reserved",
		"64:ff9b::7f00:1":        "loopback (in NAT64)",
		"64:ff9b::a00:1":         "private (in NAT64)",
		"64:ff9b:1::1":           "private",
		"2002:7f00:1::1":         "loopback (in 6to4)",
		"2002:a9fe:a9fe::":       "link-local (in 6to4)",
		"2001::1":                "Teredo",
		"2001:db8::1":            "documentation",
		// Public: reachable.
		"93.184.216.34":    "",
		"8.8.8.8":          "",
		"100.63.255.255":   "",
		"100.128.0.0":      "",
		"172.32.0.1":       "",
		"::ffff:8.8.8.8":   "",
		"2606:4700::1111":  "",
		"64:ff9b::808:808": "",
		"2002:808:808::":   "",
	} {
		if got := refusedKind(netip.MustParseAddr(addr)); got != want {
			t.Errorf("refusedKind(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestParseAllow(t *testing.T) {
	type probe struct {
		name string
		ip   string
		port int
		ok   bool
	}
	for _, tc := range []struct {
		pattern string
		probes  []probe
	}{
		{"127.0.0.1:8099", []probe{
			{"127.0.0.1", "127.0.0.1", 8099, true},
			{"localhost", "127.0.0.1", 8099, true},
			{"127.0.0.1", "127.0.0.1", 8098, false},
			{"127.0.0.2", "127.0.0.2", 8099, false},
			{"::ffff:127.0.0.1", "::ffff:127.0.0.1", 8099, true},
		}},
		{"localhost:*", []probe{
			{"localhost", "127.0.0.1", 1, true},
			{"localhost", "::1", 65535, true},
			{"127.0.0.1", "127.0.0.1", 80, false},
			{"notlocalhost", "127.0.0.1", 80, false},
		}},
		{"LocalHost.", []probe{{"localhost", "127.0.0.1", 80, true}}},
		{"*.internal", []probe{
			{"db.internal", "10.0.0.5", 5432, true},
			{"a.b.internal", "10.0.0.5", 80, true},
			{"internal", "10.0.0.5", 80, false},
			{"xinternal", "10.0.0.5", 80, false},
		}},
		{"*.internal:443", []probe{{"db.internal", "10.0.0.5", 443, true}, {"db.internal", "10.0.0.5", 80, false}}},
		{"10.0.0.0/8", []probe{{"x", "10.9.9.9", 1, true}, {"x", "11.0.0.1", 1, false}}},
		{"10.0.0.0/8:443", []probe{{"x", "10.9.9.9", 443, true}, {"x", "10.9.9.9", 80, false}}},
		{"[::1]:8080", []probe{{"::1", "::1", 8080, true}, {"::1", "::1", 80, false}}},
		{"[::1]", []probe{{"::1", "::1", 80, true}}},
		{"::1", []probe{{"::1", "::1", 80, true}}},
		{"[fd00::/8]:443", []probe{{"x", "fd12::1", 443, true}, {"x", "fe80::1", 443, false}}},
		{"*:8080", []probe{{"x", "10.0.0.1", 8080, true}, {"x", "10.0.0.1", 80, false}}},
		{" * ", []probe{{"x", "127.0.0.1", 1, true}}},
	} {
		r, err := parseAllow(tc.pattern)
		if err != nil {
			t.Errorf("parseAllow(%q): %v", tc.pattern, err)
			continue
		}
		for _, p := range tc.probes {
			if got := r.match(p.name, netip.MustParseAddr(p.ip), p.port); got != p.ok {
				t.Errorf("%q matches (%s, %s, %d) = %v, want %v", tc.pattern, p.name, p.ip, p.port, got, p.ok)
			}
		}
	}
	for _, bad := range []string{"", " ", ":80", "host:", "host:0", "host:65536", "host:http", "[::1", "[::1]x", "[::1]:",
		"10.0.0.0/33", "*.", "*.a..b", "a*b", "exa mple", "fe80::1%eth0", "a/b", "*.*.x"} {
		if _, err := parseAllow(bad); err == nil {
			t.Errorf("parseAllow(%q) accepted", bad)
		}
	}
}

func FuzzParseAllow(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8099", "localhost:*", "*.internal", "[::1]:8080", "10.0.0.0/8", "[fd00::/8]:443", "*"} {
		f.Add(s)
	}
	probes := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("10.1.2.3")}
	f.Fuzz(func(t *testing.T, pattern string) {
		r, err := parseAllow(pattern)
		if err != nil {
			return
		}
		if !r.any && r.host == "" && r.suffix == "" && !r.prefix.IsValid() {
			t.Fatalf("parseAllow(%q) = %+v: matches nothing", pattern, r)
		}
		if r.port < 0 || r.port > 65535 {
			t.Fatalf("parseAllow(%q): port %d", pattern, r.port)
		}
		for _, ip := range probes {
			r.match("localhost", ip, 80)
		}
	})
}

// policyClient is a Client whose lookups come from names and whose dials
// are recorded and fail: nothing leaves the process.
func policyClient(t *testing.T, cfg Config, names map[string][]string) (*Client, *[]string) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var dialled []string
	c.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host == "localhost" {
			return lookupHost(ctx, host) // /etc/hosts
		}
		addrs, ok := names[strings.TrimSuffix(strings.ToLower(host), ".")]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var ips []netip.Addr
		for _, a := range addrs {
			ips = append(ips, netip.MustParseAddr(a))
		}
		return ips, nil
	}
	c.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled = append(dialled, addr)
		return nil, errors.New("test: no connection")
	}
	return c, &dialled
}

func TestDialPolicy(t *testing.T) {
	names := map[string][]string{
		"public.test":   {"93.184.216.34"},
		"metadata.test": {"169.254.169.254"},
		"mixed.test":    {"10.0.0.1", "93.184.216.34", "127.0.0.1"},
		"db.internal":   {"10.1.2.3"},
		"rebind.test":   {"127.0.0.1"},
		"two.test":      {"93.184.216.34", "2606:2800:220:1::"},
	}
	c, dialled := policyClient(t, Config{Allow: []string{"*.internal", "127.0.0.1:8099"}}, names)
	for _, tc := range []struct {
		addr, wantErr string
		wantDials     []string
	}{
		{"public.test:80", "test: no connection", []string{"93.184.216.34:80"}},
		{"93.184.216.34:443", "test: no connection", []string{"93.184.216.34:443"}},
		{"two.test:80", "test: no connection", []string{"93.184.216.34:80", "[2606:2800:220:1::]:80"}},
		{"metadata.test:80", "http: metadata.test:80 resolves to 169.254.169.254, a link-local address; the operator can allow it with lua.http_allow", nil},
		// Refused addresses are skipped, the public one is tried.
		{"mixed.test:80", "test: no connection", []string{"93.184.216.34:80"}},
		{"db.internal:5432", "test: no connection", []string{"10.1.2.3:5432"}},
		{"DB.Internal.:5432", "test: no connection", []string{"10.1.2.3:5432"}},
		{"rebind.test:8099", "test: no connection", []string{"127.0.0.1:8099"}},
		{"rebind.test:80", "http: rebind.test:80 resolves to 127.0.0.1, a loopback address", nil},
		{"localhost:8099", "test: no connection", []string{"127.0.0.1:8099"}},
		{"localhost:80", "http: localhost:80 resolves to 127.0.0.1, a loopback address; the operator can allow it with lua.http_allow", nil},
		{"10.0.0.1:80", "http: 10.0.0.1:80 is a private address; the operator can allow it with lua.http_allow", nil},
		{"[::1]:8099", "http: [::1]:8099 is a loopback address", nil},
		{"nowhere.test:80", "lookup nowhere.test", nil},
	} {
		*dialled = nil
		_, err := c.dialContext(context.Background(), "tcp", tc.addr)
		if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
			t.Errorf("dial %s: %v, want %q", tc.addr, err, tc.wantErr)
		}
		if !slices.Equal(*dialled, tc.wantDials) {
			t.Errorf("dial %s connected to %q, want %q", tc.addr, *dialled, tc.wantDials)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Allow: []string{"127.0.0.1:8099", "host:port"}},
		{Allow: []string{""}},
		{Timeout: -1},
		{MaxBody: -1},
		{MaxRequestBody: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Timeout != DefaultTimeout || c.cfg.MaxBody != 2<<20 || c.cfg.MaxRequestBody != 1<<20 || c.cfg.UserAgent != "Chorus/1" {
		t.Fatalf("defaults: %+v", c.cfg)
	}
}
