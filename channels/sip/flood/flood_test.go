package flood

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newLimiter(c *clock, cfg Config) *Limiter {
	cfg.Now = c.Now
	cfg.Logger = quiet
	return New(cfg)
}

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
)

func TestBurstThenRate(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{PerSecond: 10, Burst: 5})
	for i := range 5 {
		if ok, banned := l.Allow(ipA); !ok || banned {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if ok, banned := l.Allow(ipA); ok || banned {
		t.Fatalf("6th request of a burst of 5: ok=%v banned=%v, want refused", ok, banned)
	}
	if ok, _ := l.Allow(ipB); !ok {
		t.Fatal("another source was refused")
	}
	c.Advance(99 * time.Millisecond)
	if ok, _ := l.Allow(ipA); ok {
		t.Fatal("a token came back before 100 ms")
	}
	c.Advance(time.Millisecond)
	if ok, _ := l.Allow(ipA); !ok {
		t.Fatal("no token after 100 ms at 10/s")
	}
	// A long break refills the bucket to the burst, not beyond.
	c.Advance(time.Hour)
	n := 0
	for {
		if ok, _ := l.Allow(ipA); !ok {
			break
		}
		n++
	}
	if n != 5 {
		t.Errorf("%d requests after a long break, want the burst of 5", n)
	}
}

func TestDefaults(t *testing.T) {
	l := New(Config{})
	if l.cfg.PerSecond != 50 || l.cfg.Burst != 100 || l.cfg.BanAfter != 5*time.Second ||
		l.cfg.BanFor != time.Minute || l.cfg.MaxEntries != 100_000 || l.cfg.IPv6Prefix != 64 || l.cfg.Gap != time.Second {
		t.Errorf("defaults: %+v", l.cfg)
	}
}

// flood sends rate requests per second from ip for d and returns when it
// was first banned (0 if never) and how many were served.
func flood(c *clock, l *Limiter, ip netip.Addr, rate int, d time.Duration) (bannedAt time.Duration, served int) {
	step := time.Second / time.Duration(rate)
	for el := time.Duration(0); el < d; el += step {
		ok, banned := l.Allow(ip)
		if banned && bannedAt == 0 {
			bannedAt = el
		}
		if ok {
			served++
		}
		c.Advance(step)
	}
	return bannedAt, served
}

func TestSustainedExcessBans(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{PerSecond: 10, Burst: 10, BanAfter: 5 * time.Second, BanFor: time.Minute})
	// 20/s: the burst lasts 1 s, then half is refused; banned 5 s later.
	at, served := flood(c, l, ipA, 20, 10*time.Second)
	if at < 5900*time.Millisecond || at > 6100*time.Millisecond {
		t.Errorf("banned after %s of 20/s, want ~6 s (1 s of burst + 5 s over the rate)", at)
	}
	if served < 60 || served > 75 {
		t.Errorf("%d served before the ban, want ~70", served)
	}
	if !l.Banned(ipA) {
		t.Error("Banned says no")
	}
	// Banned: refused even when slow, and the ban is not extended.
	c.Advance(10 * time.Second)
	if ok, banned := l.Allow(ipA); ok || !banned {
		t.Errorf("a slow request during the ban: ok=%v banned=%v", ok, banned)
	}
	if ok, _ := l.Allow(ipB); !ok {
		t.Error("an innocent source was refused during A's ban")
	}
	c.Advance(time.Minute - 6*time.Second) // ~1 min after the ban began
	if ok, banned := l.Allow(ipA); !ok || banned {
		t.Errorf("after BanFor: ok=%v banned=%v, want served", ok, banned)
	}
	// Flooding again bans again, after BanAfter of excess (the bucket is full).
	at, _ = flood(c, l, ipA, 20, 10*time.Second)
	if at < 5700*time.Millisecond || at > 6100*time.Millisecond {
		t.Errorf("second ban after %s, want ~6 s (one token was used after the ban)", at)
	}
}

func TestBurstsAreNotBanned(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{PerSecond: 10, Burst: 10, BanAfter: 5 * time.Second})
	// Every 1.5 s a burst of 30 at once: 15 are refused each time, for a
	// minute, but the refusals come in short runs.
	for range 40 {
		for range 30 {
			if _, banned := l.Allow(ipA); banned {
				t.Fatal("bursts with breaks led to a ban")
			}
		}
		c.Advance(1500 * time.Millisecond)
	}
	// A source just at its rate is never refused.
	c2 := newClock()
	l2 := newLimiter(c2, Config{PerSecond: 10, Burst: 1})
	for i := range 1000 {
		if ok, _ := l2.Allow(ipB); !ok {
			t.Fatalf("request %d at exactly the rate refused", i)
		}
		c2.Advance(100 * time.Millisecond)
	}
}

func TestSlightExcessIsBannedToo(t *testing.T) {
	// 12/s against 10/s: one refusal every half second, no break longer
	// than Gap (1 s): a sustained excess.
	c := newClock()
	l := newLimiter(c, Config{PerSecond: 10, Burst: 10, BanAfter: 5 * time.Second})
	at, _ := flood(c, l, ipA, 12, 30*time.Second)
	if at == 0 || at > 12*time.Second {
		t.Errorf("12/s against 10/s: banned at %s, want within ~11 s", at)
	}
}

func TestKeys(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{PerSecond: 1, Burst: 1})
	use := func(s string) bool { ok, _ := l.Allow(netip.MustParseAddr(s)); return ok }
	for _, tc := range []struct {
		first, second string
		same          bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true}, // one /64
		{"2001:db8:1:3::1", "2001:db8:1:4::1", false},
		{"198.51.100.7", "::ffff:198.51.100.7", true}, // mapped
		{"fe80::1%eth0", "fe80::2%eth1", true},        // zones ignored, one /64
		{"198.51.100.8", "198.51.100.9", false},
	} {
		if !use(tc.first) {
			t.Fatalf("%s: first request refused", tc.first)
		}
		if got := !use(tc.second); got != tc.same {
			t.Errorf("%s then %s: counted as one source = %v, want %v", tc.first, tc.second, got, tc.same)
		}
	}
	// /128 keys each address.
	l = newLimiter(c, Config{PerSecond: 1, Burst: 1, IPv6Prefix: 128})
	l.Allow(netip.MustParseAddr("2001:db8::1"))
	if ok, _ := l.Allow(netip.MustParseAddr("2001:db8::2")); !ok {
		t.Error("IPv6Prefix 128 grouped two addresses")
	}
	// The zero Addr is one source, not a crash.
	l.Allow(netip.Addr{})
	if ok, _ := l.Allow(netip.Addr{}); ok {
		t.Error("the zero Addr is not limited")
	}
}

func TestBoundedMemory(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{PerSecond: 1, Burst: 1, MaxEntries: 1000})
	// A flooder, then 100,000 one-shot sources (spoofed), with the flooder
	// in between: the flooder is seen often, so it stays.
	flooder := netip.MustParseAddr("203.0.113.66")
	l.Allow(flooder)
	for i := range 100_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.Allow(ip); !ok {
			t.Fatalf("new source %s refused", ip)
		}
		if i%100 == 0 {
			if ok, _ := l.Allow(flooder); ok {
				t.Fatalf("the flooder was forgotten after %d sources", i)
			}
		}
		if n := l.Len(); i%10000 == 0 && n > 1000 {
			t.Fatalf("%d entries, bound 1000", n)
		}
	}
	if n := l.Len(); n > 1000 || n < 500 {
		t.Errorf("%d entries, want at most 1000 (and most of them used)", n)
	}
	// The oldest sources are the ones forgotten: the first is new again.
	if ok, _ := l.Allow(netip.AddrFrom4([4]byte{10, 0, 0, 0})); !ok {
		t.Error("the oldest source was not forgotten")
	}
	// Tiny bounds work too.
	l = newLimiter(c, Config{MaxEntries: 1})
	l.Allow(ipA)
	l.Allow(ipB)
	if n := l.Len(); n != 1 {
		t.Errorf("MaxEntries 1: %d entries", n)
	}
}

func TestSweep(t *testing.T) {
	c := newClock()
	l := newLimiter(c, Config{PerSecond: 10, Burst: 10, BanAfter: 5 * time.Second, BanFor: 10 * time.Minute, Idle: time.Minute})
	flood(c, l, ipA, 50, 8*time.Second) // banned
	if !l.Banned(ipA) {
		t.Fatal("A not banned")
	}
	for i := range 100 {
		l.Allow(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	c.Advance(30 * time.Second)
	l.Allow(ipB)
	c.Advance(40 * time.Second) // the 100: 70 s idle; B: 40 s; A: banned
	l.Sweep(c.Now())
	if n := l.Len(); n != 2 {
		t.Errorf("%d entries after Sweep, want 2 (B and banned A)", n)
	}
	if !l.Banned(ipA) {
		t.Error("Sweep lifted a ban")
	}
	c.Advance(10 * time.Minute)
	l.Sweep(c.Now())
	if n := l.Len(); n != 0 {
		t.Errorf("%d entries after everything went idle and the ban ended", n)
	}
	if ok, banned := l.Allow(ipA); !ok || banned {
		t.Error("A still refused after its ban ended and it was swept")
	}
}

// Run with -race: Allow, Banned, Sweep and Len from many goroutines.
func TestConcurrent(t *testing.T) {
	l := New(Config{PerSecond: 1000, Burst: 10, BanAfter: 10 * time.Millisecond, MaxEntries: 500, Logger: quiet})
	var wg sync.WaitGroup
	var served, banned atomic.Int64
	stop := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			for i := range 20000 {
				ip := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 50)})
				if g == 0 {
					ip = ipA // one flooder
				}
				ok, b := l.Allow(ip)
				if ok {
					served.Add(1)
				}
				if b {
					banned.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				l.Sweep(time.Now().Add(time.Hour))
				l.Len()
				l.Banned(ipA)
			}
		}
	})
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
	if served.Load() == 0 || l.Len() > 500 {
		t.Errorf("served %d, %d entries", served.Load(), l.Len())
	}
}

func BenchmarkAllowOneSource(b *testing.B) {
	l := New(Config{PerSecond: 1e9, Burst: 1e9, Logger: quiet})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(ipA)
		}
	})
}

func BenchmarkAllowManySources(b *testing.B) {
	l := New(Config{Logger: quiet})
	ips := make([]netip.Addr, 4096)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(ips[i&4095])
			i++
		}
	})
}

// Spoofed sources: every request from a new address, past MaxEntries.
func BenchmarkAllowNewSources(b *testing.B) {
	l := New(Config{MaxEntries: 10000, Logger: quiet})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		i++
	}
}

func ExampleLimiter_Allow() {
	l := flood0()
	src := netip.MustParseAddr("198.51.100.1")
	for i := range 3 {
		ok, banned := l.Allow(src)
		fmt.Println(i, ok, banned)
	}
	// Output:
	// 0 true false
	// 1 true false
	// 2 false false
}

func flood0() *Limiter { return New(Config{PerSecond: 1, Burst: 2, Logger: quiet}) }
