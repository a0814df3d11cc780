package sms

import (
	"sync"
	"time"
)

// Incoming concatenated messages (UDH IE 0x00/0x08 or the sar_* TLVs) wait
// here until every part has come. A group that is not complete within
// maxAge is delivered with the parts that came (logged); at most maxGroups
// groups and maxBytes of parts wait at once (a part beyond either is
// delivered on its own, logged).

type partKey struct {
	route, from, to string
	ref             uint16
	total           byte
}

type part struct {
	coding byte
	data   []byte
}

type group struct {
	parts   map[byte]part
	started time.Time
	timer   *time.Timer
}

type reassembler struct {
	maxGroups int
	maxBytes  int
	maxAge    time.Duration
	// expired is called (from a timer goroutine) with a group that timed
	// out, its parts in order.
	expired func(k partKey, parts []part, missing int)

	mu     sync.Mutex
	groups map[partKey]*group
	bytes  int // data of every waiting part
	closed bool
}

func newReassembler(maxGroups, maxBytes int, maxAge time.Duration, expired func(partKey, []part, int)) *reassembler {
	return &reassembler{maxGroups: maxGroups, maxBytes: maxBytes, maxAge: maxAge, expired: expired, groups: map[partKey]*group{}}
}

// held is the size of the waiting parts.
func (r *reassembler) held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// forget takes g's parts off the byte count; r.mu is held.
func (r *reassembler) forget(g *group) {
	for _, p := range g.parts {
		r.bytes -= len(p.data)
	}
}

// add files part seq of k. It returns every part in order once the group
// is complete, or full true when no more groups or bytes may wait.
func (r *reassembler) add(k partKey, seq byte, p part) (complete []part, full bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.groups[k]
	if r.closed || (g == nil && len(r.groups) >= r.maxGroups) {
		return nil, true
	}
	prev, had := 0, false
	if g != nil {
		var old part
		old, had = g.parts[seq]
		prev = len(old.data)
	}
	// A part that completes its group frees the group's bytes at once.
	completes := g != nil && !had && len(g.parts)+1 >= int(k.total)
	if !completes && r.bytes-prev+len(p.data) > r.maxBytes {
		return nil, true
	}
	if g == nil {
		g = &group{parts: map[byte]part{}, started: time.Now()}
		g.timer = time.AfterFunc(r.maxAge, func() { r.expire(k, g) })
		r.groups[k] = g
	}
	r.bytes += len(p.data) - prev
	g.parts[seq] = p
	if len(g.parts) < int(k.total) {
		return nil, false
	}
	g.timer.Stop()
	delete(r.groups, k)
	r.forget(g)
	return ordered(g, k.total), false
}

// restore puts a completed group back, without the part seq (its
// deliver_sm was refused, so the SMSC will send it again).
func (r *reassembler) restore(k partKey, seq byte, parts []part) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.groups[k] != nil {
		return
	}
	g := &group{parts: map[byte]part{}, started: time.Now()}
	for i, p := range parts {
		if byte(i+1) != seq {
			g.parts[byte(i+1)] = p
			r.bytes += len(p.data)
		}
	}
	g.timer = time.AfterFunc(r.maxAge, func() { r.expire(k, g) })
	r.groups[k] = g
}

func (r *reassembler) expire(k partKey, g *group) {
	r.mu.Lock()
	if r.groups[k] != g || r.closed {
		r.mu.Unlock()
		return
	}
	delete(r.groups, k)
	r.forget(g)
	r.mu.Unlock()
	r.expired(k, ordered(g, k.total), int(k.total)-len(g.parts))
}

// ordered lists the parts that came, in order.
func ordered(g *group, total byte) []part {
	out := make([]part, 0, len(g.parts))
	for i := 1; i <= int(total); i++ {
		if p, ok := g.parts[byte(i)]; ok {
			out = append(out, p)
		}
	}
	return out
}

// close stops every timer; waiting parts are dropped.
func (r *reassembler) close() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	n := len(r.groups)
	for k, g := range r.groups {
		g.timer.Stop()
		delete(r.groups, k)
	}
	r.bytes = 0
	return n
}

// joinParts decodes the parts as one text: parts sharing a coding are
// joined before decoding (a surrogate pair or an escape split across two
// parts by a careless sender still decodes).
func joinParts(parts []part) (string, bool) {
	var out string
	known := true
	for i := 0; i < len(parts); {
		j := i
		var buf []byte
		for j < len(parts) && parts[j].coding == parts[i].coding {
			buf = append(buf, parts[j].data...)
			j++
		}
		s, ok := decodeText(parts[i].coding, buf)
		out += s
		known = known && ok
		i = j
	}
	return out, known
}
