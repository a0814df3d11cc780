package web

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	tokens float64
	last   time.Time
}

func newBucket(burst float64, now time.Time) bucket {
	return bucket{tokens: burst, last: now}
}

// take takes a token, or says how long until one is there.
func (b *bucket) take(rate, burst float64, now time.Time) (bool, time.Duration) {
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// ipLimits rate-limits clients by IP address, whatever sender names they
// use (a new "from" per request would otherwise escape the per-sender
// limit and start a session each time).
type ipLimits struct {
	rate float64

	mu sync.Mutex
	m  map[string]*bucket
}

func newIPLimits(rate float64) *ipLimits { return &ipLimits{rate: rate, m: map[string]*bucket{}} }

func (l *ipLimits) allow(r *http.Request) (bool, time.Duration) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[ip]
	if b == nil {
		nb := newBucket(2*l.rate, now)
		b = &nb
		l.m[ip] = b
	}
	return b.take(l.rate, 2*l.rate, now)
}

// sweep forgets addresses whose bucket is full again.
func (l *ipLimits) sweep() {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, b := range l.m {
		if now.Sub(b.last).Seconds()*l.rate >= 2*l.rate {
			delete(l.m, ip)
		}
	}
}
