package flood

import (
	"hash/maphash"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"
)

// Config configures a Limiter. Zero fields take their defaults.
type Config struct {
	// PerSecond is the sustained rate of requests a source may send
	// (default 50).
	PerSecond float64
	// Burst is how many requests a quiet source may send at once (default
	// 2 × PerSecond, at least 1).
	Burst int
	// BanAfter: a source refused without a break (see Gap) for this long is
	// banned (default 5 s).
	BanAfter time.Duration
	// BanFor is how long a ban lasts (default 60 s). Requests during a ban
	// do not extend it; a source still flooding when it ends is rate
	// limited again and banned again after BanAfter.
	BanFor time.Duration
	// Gap: a run of refusals ends when a source goes this long without
	// being refused (default the larger of 1 s and 2/PerSecond).
	Gap time.Duration
	// MaxEntries bounds the sources tracked (default 100,000); past it the
	// source seen longest ago is forgotten.
	MaxEntries int
	// Idle: Sweep forgets sources not seen for this long, unless banned
	// (default 1 min).
	Idle time.Duration
	// IPv6Prefix groups IPv6 sources by this prefix length (default 64:
	// one subscriber's network, which can hold 2^64 addresses); 128 keys
	// each address. IPv4-mapped IPv6 addresses count as IPv4.
	IPv6Prefix int
	// Now is the clock (default time.Now); tests inject one.
	Now    func() time.Time
	Logger *slog.Logger
}

// Limiter rate-limits requests per source address with a token bucket and
// bans sources that exceed their rate for long. It is safe for concurrent
// use; Allow takes one lock of one of 64 shards.
type Limiter struct {
	cfg      Config
	rate     float64 // tokens per nanosecond
	burst    float64
	seed     maphash.Seed
	shards   []shard
	perShard int
}

type shard struct {
	mu      sync.Mutex
	entries map[netip.Addr]*entry
	// LRU list by last request: head.next is the newest, head.prev the
	// oldest.
	head entry
	_    [40]byte // keep shards' locks on separate cache lines
}

type entry struct {
	key         netip.Addr
	tokens      float64
	last        time.Time // last request, also of the token refill
	excessSince time.Time // start of the current run of refusals; zero if none
	lastRefused time.Time
	bannedUntil time.Time
	prev, next  *entry
}

// New returns a Limiter; see Config for the defaults.
func New(cfg Config) *Limiter {
	if cfg.PerSecond <= 0 || math.IsNaN(cfg.PerSecond) || math.IsInf(cfg.PerSecond, 0) {
		cfg.PerSecond = 50
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(2*cfg.PerSecond))
	}
	if cfg.BanAfter <= 0 {
		cfg.BanAfter = 5 * time.Second
	}
	if cfg.BanFor <= 0 {
		cfg.BanFor = 60 * time.Second
	}
	if cfg.Gap <= 0 {
		cfg.Gap = max(time.Second, time.Duration(2/cfg.PerSecond*float64(time.Second)))
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Minute
	}
	if cfg.IPv6Prefix <= 0 || cfg.IPv6Prefix > 128 {
		cfg.IPv6Prefix = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := 64
	for n > 1 && n > cfg.MaxEntries {
		n /= 2
	}
	l := &Limiter{
		cfg:      cfg,
		rate:     cfg.PerSecond / float64(time.Second),
		burst:    float64(cfg.Burst),
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		perShard: cfg.MaxEntries / n,
	}
	for i := range l.shards {
		s := &l.shards[i]
		s.entries = map[netip.Addr]*entry{}
		s.head.prev, s.head.next = &s.head, &s.head
	}
	return l
}

// key is the address a source is counted under.
func (l *Limiter) key(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && l.cfg.IPv6Prefix < 128 {
		if p, err := ip.Prefix(l.cfg.IPv6Prefix); err == nil {
			ip = p.Addr()
		}
	}
	return ip
}

func (l *Limiter) shard(k netip.Addr) *shard {
	b := k.As16()
	return &l.shards[maphash.Bytes(l.seed, b[:])&uint64(len(l.shards)-1)]
}

// Allow counts one request from ip. ok: serve it. !ok && !banned: the
// source is over its rate (answer 503 with Retry-After, or drop).
// banned: the source flooded for Config.BanAfter; drop the request
// without an answer until the ban ends.
func (l *Limiter) Allow(ip netip.Addr) (ok bool, banned bool) {
	now := l.cfg.Now()
	k := l.key(ip)
	s := l.shard(k)
	s.mu.Lock()
	e := s.entries[k]
	if e == nil {
		if len(s.entries) >= l.perShard {
			s.remove(s.head.prev) // the oldest
		}
		e = &entry{key: k, tokens: l.burst, last: now}
		s.entries[k] = e
	} else {
		s.unlink(e)
	}
	s.pushFront(e)

	if now.Before(e.bannedUntil) {
		e.last = now
		s.mu.Unlock()
		return false, true
	}
	if el := now.Sub(e.last); el > 0 {
		e.tokens = min(l.burst, e.tokens+float64(el)*l.rate)
		e.last = now
	}
	if e.tokens >= 1 {
		e.tokens--
		s.mu.Unlock()
		return true, false
	}
	if e.excessSince.IsZero() || now.Sub(e.lastRefused) > l.cfg.Gap {
		e.excessSince = now
	}
	e.lastRefused = now
	if now.Sub(e.excessSince) < l.cfg.BanAfter {
		s.mu.Unlock()
		return false, false
	}
	e.bannedUntil = now.Add(l.cfg.BanFor)
	e.excessSince = time.Time{}
	e.tokens = l.burst // full again when the ban ends
	s.mu.Unlock()
	l.cfg.Logger.Warn("sip flood: source banned", "remote", k.String(), "for", l.cfg.BanFor,
		"rate", l.cfg.PerSecond, "over_rate_for", l.cfg.BanAfter)
	return false, true
}

// Banned reports whether ip is banned now.
func (l *Limiter) Banned(ip netip.Addr) bool {
	now := l.cfg.Now()
	k := l.key(ip)
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[k]
	return e != nil && now.Before(e.bannedUntil)
}

// Sweep forgets sources not seen for Config.Idle, except banned ones. The
// caller runs it from its own ticker (every few seconds to a minute);
// memory stays bounded by Config.MaxEntries without it.
func (l *Limiter) Sweep(now time.Time) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		// Oldest first; stop at the first source seen recently.
		for e := s.head.prev; e != &s.head; {
			prev := e.prev
			if now.Sub(e.last) < l.cfg.Idle {
				break
			}
			if !now.Before(e.bannedUntil) {
				s.remove(e)
			}
			e = prev
		}
		s.mu.Unlock()
	}
}

// Len returns the number of sources tracked.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

func (s *shard) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.next = s.head.next
	e.prev = &s.head
	s.head.next.prev = e
	s.head.next = e
}

func (s *shard) remove(e *entry) {
	s.unlink(e)
	delete(s.entries, e.key)
}
