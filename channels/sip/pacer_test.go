package sip

import (
	"log/slog"
	"net"
	"testing"
)

// TestPacerPlaces: calls spread over the phases, keep their place when
// others leave, and a newcomer fills a hole instead of moving anyone.
func TestPacerPlaces(t *testing.T) {
	p := newPacer()
	defer p.close()
	var ms []*media
	for range 10 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		m := newMedia(c, p, slog.New(slog.DiscardHandler))
		p.add(m)
		ms = append(ms, m)
	}
	p.mu.Lock()
	for i := range p.phases {
		if got := p.phases[i].live; got < 2 || got > 3 {
			t.Errorf("phase %d has %d calls of 10; want 2 or 3", i, got)
		}
	}
	before := map[*media]place{}
	for m, at := range p.where {
		before[m] = at
	}
	p.mu.Unlock()

	gone := ms[0]
	p.remove(gone)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fresh := newMedia(c, p, slog.New(slog.DiscardHandler))
	p.add(fresh)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range ms[1:] {
		if p.where[m] != before[m] {
			t.Errorf("a call moved from %v to %v when another left", before[m], p.where[m])
		}
		if x := p.phases[before[m].phase].members[before[m].index]; x == nil || x.m != m {
			t.Errorf("the call at %v is not in its phase's list", before[m])
		}
	}
	if p.where[fresh] != before[gone] {
		t.Errorf("the new call went to %v, not the hole at %v", p.where[fresh], before[gone])
	}
}
