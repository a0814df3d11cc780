package httpmod

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// allowRule is one parsed Config.Allow pattern.
type allowRule struct {
	host   string       // a host name, lower case, without a trailing dot
	suffix string       // for "*.example.org": ".example.org"
	any    bool         // "*": every host
	prefix netip.Prefix // an address (as a one-address prefix) or a CIDR range
	port   int          // 0: every port
}

// parseAllow reads one pattern: host, host:port or host:*, where host is a
// name, "*.domain", "*", an IPv4 address, an IPv6 address in brackets (or
// bare, without a port), or a CIDR range ("10.0.0.0/8", "[fd00::/8]:443").
func parseAllow(pattern string) (allowRule, error) {
	var r allowRule
	p := strings.TrimSpace(pattern)
	host, port := p, ""
	switch {
	case strings.HasPrefix(p, "["):
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return r, fmt.Errorf("missing ']'")
		}
		host = p[1:end]
		switch rest := p[end+1:]; {
		case rest == "":
		case strings.HasPrefix(rest, ":"):
			port = rest[1:]
			if port == "" {
				return r, fmt.Errorf("empty port")
			}
		default:
			return r, fmt.Errorf("unexpected %q after ']'", rest)
		}
	case strings.Count(p, ":") == 1:
		host, port, _ = strings.Cut(p, ":")
		if port == "" {
			return r, fmt.Errorf("empty port")
		}
	}
	switch port {
	case "", "*":
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return r, fmt.Errorf("bad port %q", port)
		}
		r.port = n
	}

	host = strings.ToLower(host)
	if host == "*" {
		r.any = true
		return r, nil
	}
	host = strings.TrimSuffix(host, ".")
	switch {
	case host == "":
		return r, fmt.Errorf("empty host")
	case strings.Contains(host, "/"):
		pfx, err := netip.ParsePrefix(host)
		if err != nil {
			return r, fmt.Errorf("bad address range %q", host)
		}
		r.prefix = pfx.Masked()
	case strings.HasPrefix(host, "*."):
		if !validName(host[2:]) {
			return r, fmt.Errorf("bad host name %q", host)
		}
		r.suffix = host[1:]
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			if ip.Zone() != "" {
				return r, fmt.Errorf("address with a zone %q", host)
			}
			r.prefix = netip.PrefixFrom(ip, ip.BitLen())
			break
		}
		if !validName(host) {
			return r, fmt.Errorf("bad host name %q", host)
		}
		r.host = host
	}
	return r, nil
}

// validName accepts the letters, digits, '-', '_' and '.' of host names.
func validName(s string) bool {
	if s == "" || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// match reports whether the rule allows reaching ip on port for a URL whose
// host was name (lower case, no trailing dot; the address itself when the
// URL gave one).
func (r allowRule) match(name string, ip netip.Addr, port int) bool {
	if r.port != 0 && r.port != port {
		return false
	}
	switch {
	case r.any:
		return true
	case r.prefix.IsValid():
		return r.prefix.Contains(ip) || r.prefix.Contains(ip.Unmap())
	case r.host != "":
		return name == r.host
	default:
		return strings.HasSuffix(name, r.suffix)
	}
}

// Ranges refused besides what netip classifies (loopback, private,
// link-local, multicast, unspecified).
var refusedRanges = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved"}, // "this network"; 0.0.0.0 reaches the host itself
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and the broadcast address
	{netip.MustParsePrefix("168.63.129.16/32"), "cloud metadata"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"}, // local-use NAT64
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
	{netip.MustParsePrefix("2001:10::/28"), "reserved"},
	{netip.MustParsePrefix("2001:20::/28"), "reserved"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
}

var (
	nat64         = netip.MustParsePrefix("64:ff9b::/96") // the IPv4 address in the last 32 bits
	sixToFour     = netip.MustParsePrefix("2002::/16")    // the IPv4 address in bits 16-47
	globalUnicast = netip.MustParsePrefix("2000::/3")     // all other IPv6 is reserved
)

// refusedKind says what kind of address ip is when scripts may not reach it
// without an allow rule ("loopback", "private", ...), or "" when they may.
func refusedKind(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		return refusedKind(ip.Unmap())
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			if kind := refusedKind(netip.AddrFrom4([4]byte(b[12:16]))); kind != "" {
				return kind + " (in NAT64)"
			}
			return ""
		case sixToFour.Contains(ip):
			if kind := refusedKind(netip.AddrFrom4([4]byte(b[2:6]))); kind != "" {
				return kind + " (in 6to4)"
			}
			return ""
		}
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(ip) {
			return r.kind
		}
	}
	if ip.Is6() && !globalUnicast.Contains(ip) {
		return "reserved"
	}
	return ""
}

// refusedError is a dial refused by the address policy.
type refusedError struct {
	addr string     // host:port as the URL gave it
	ip   netip.Addr // the address refused
	kind string     // what refusedKind said
	name bool       // the URL gave a name that resolved to ip
}

func (e *refusedError) Error() string {
	article := "a"
	if strings.ContainsRune("aeiou", rune(e.kind[0])) {
		article = "an"
	}
	what := fmt.Sprintf("%s is %s %s address", e.addr, article, e.kind)
	if e.name {
		what = fmt.Sprintf("%s resolves to %s, %s %s address", e.addr, e.ip, article, e.kind)
	}
	return "http: " + what + "; the operator can allow it with lua.http_allow"
}

// check refuses ip unless it is public or an allow rule matches.
func (c *Client) check(addr, name string, ip netip.Addr, port int, literal bool) error {
	kind := refusedKind(ip)
	if kind == "" {
		return nil
	}
	for _, r := range c.allow {
		if r.match(name, ip, port) {
			return nil
		}
	}
	return &refusedError{addr: addr, ip: ip, kind: kind, name: !literal}
}

// dialContext is the Transport's dialer: it resolves the host itself,
// checks every address, and connects to the checked address only, so a
// name cannot resolve to something else between the check and the
// connection. Redirects dial through here too.
func (c *Client) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("bad port in %q", addr)
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	var ips []netip.Addr
	literal := false
	if ip, err := netip.ParseAddr(host); err == nil {
		ips, literal = []netip.Addr{ip}, true
	} else if ips, err = c.lookup(ctx, host); err != nil {
		return nil, err
	}
	var refused, dialErr error
	allowed := ips[:0:0]
	for _, ip := range ips {
		if err := c.check(addr, name, ip, port, literal); err != nil {
			if refused == nil {
				refused = err
			}
			continue
		}
		allowed = append(allowed, ip)
	}
	for i, ip := range allowed {
		conn, err := c.dialOne(ctx, network, netip.AddrPortFrom(ip, uint16(port)), len(allowed)-i)
		if err == nil {
			return conn, nil
		}
		dialErr = err
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case dialErr != nil:
		return nil, dialErr
	case refused != nil:
		return nil, refused
	}
	return nil, fmt.Errorf("lookup %s: no addresses", host)
}

// dialOne connects to one of the remaining addresses, leaving time for the
// others as net.Dialer does: an equal share of what remains, at least 2s.
func (c *Client) dialOne(ctx context.Context, network string, ap netip.AddrPort, remaining int) (net.Conn, error) {
	if deadline, ok := ctx.Deadline(); ok && remaining > 1 {
		left := time.Until(deadline)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, max(left/time.Duration(remaining), min(2*time.Second, left)))
		defer cancel()
	}
	return c.dial(ctx, network, ap.String())
}

// lookupHost resolves host with the system's resolver.
func lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, err
}
