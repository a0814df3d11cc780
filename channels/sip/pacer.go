package sip

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/zaf/g711"
)

// pacer sends the RTP of every call of a channel from one goroutine, on one
// schedule of 20 ms slots.
//
// Timing. It sleeps on a runtime timer to just before a send time and spins
// the rest, so sending starts within a fraction of a millisecond of it.
//
// Phases. The slot is cut into phases (0, 5, 10 and 15 ms into it); a call
// joins the phase with the fewest calls and keeps it for its whole life, so
// each burst of sends is a quarter of the calls (on loopback one send costs
// ~10 µs of kernel time: 500 calls are 5 ms of sending a slot) and the
// signalling gets the core between bursts.
//
// Order. Within its phase a call has a fixed position: a call that leaves
// leaves a hole that the next call to join fills, nobody moves. A receiver
// measures lateness against the stream's own earliest packet, so what must
// not vary is where in its burst a call's packet leaves; sending in map
// order (a new order each slot) made every packet's time vary by the whole
// burst.
type pacer struct {
	mu     sync.Mutex
	phases [phases]phase
	where  map[*media]place
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	slots atomic.Int64 // bursts served
	late  atomic.Int64 // bursts whose sending started > 5 ms late
	lag   atomic.Int64 // worst lateness seen (ns)
}

// phases is how many bursts a 20 ms slot is cut into.
const phases = 4

// phase is the calls sent in one burst, in a fixed order (nil: a hole).
type phase struct {
	members []*member
	live    int
}

// member is a call in the pacer.
type member struct {
	m *media
	s *sock
}

// place is where a call is sent from.
type place struct{ phase, index int }

// spin is how long before a send time the pacer stops sleeping and spins:
// the runtime's timers wake up with millisecond resolution.
const spin = time.Millisecond

func newPacer() *pacer {
	p := &pacer{where: map[*media]place{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *pacer) add(m *media) {
	p.mu.Lock()
	if _, ok := p.where[m]; !ok {
		best := 0
		for i := range p.phases {
			if p.phases[i].live < p.phases[best].live {
				best = i
			}
		}
		ph := &p.phases[best]
		idx := len(ph.members)
		for i, x := range ph.members {
			if x == nil {
				idx = i
				break
			}
		}
		x := &member{m: m, s: newSock(m)}
		if idx == len(ph.members) {
			ph.members = append(ph.members, x)
		} else {
			ph.members[idx] = x
		}
		ph.live++
		p.where[m] = place{best, idx}
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pacer) remove(m *media) {
	p.mu.Lock()
	if at, ok := p.where[m]; ok {
		delete(p.where, m)
		ph := &p.phases[at.phase]
		ph.members[at.index] = nil
		ph.live--
		// Trailing holes go: nobody is behind them.
		for len(ph.members) > 0 && ph.members[len(ph.members)-1] == nil {
			ph.members = ph.members[:len(ph.members)-1]
		}
	}
	p.mu.Unlock()
}

func (p *pacer) close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

func (p *pacer) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.where) == 0
}

func (p *pacer) run() {
	defer close(p.done)
	var list []*member
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	const step = frameDur / phases
	for {
		// Idle until a call has media.
		if p.idle() {
			select {
			case <-p.stop:
				return
			case <-p.wake:
				continue
			}
		}
		start := time.Now()
		for n := int64(phases); ; n++ {
			at := start.Add(time.Duration(n) * step)
			ph := int(n % phases)
			p.mu.Lock()
			busy, live := len(p.where) > 0, p.phases[ph].live
			list = append(list[:0], p.phases[ph].members...)
			p.mu.Unlock()
			if !busy {
				break
			}
			if live == 0 {
				continue
			}
			if d := time.Until(at) - spin; d > 0 {
				// A runtime timer, not a thread sleep: a goroutine back
				// from a blocking syscall may wait for a P (up to 20 ms).
				timer.Reset(d)
				select {
				case <-p.stop:
					return
				case <-timer.C:
				}
			}
			for i := 0; time.Now().Before(at); i++ {
				if i&63 == 63 {
					runtime.Gosched() // let others run now and then (GOMAXPROCS=1)
				}
			}
			lag := time.Since(at)
			if lag > 10*frameDur { // the machine stalled: skip the lost slots
				skipped := int64(lag / frameDur)
				p.mu.Lock()
				for m := range p.where {
					m.skip(skipped)
				}
				p.mu.Unlock()
				n += skipped * phases
			}
			p.slots.Add(1)
			if lag > 5*time.Millisecond {
				p.late.Add(1)
			}
			if int64(lag) > p.lag.Load() {
				p.lag.Store(int64(lag))
			}
			for _, x := range list {
				if x != nil {
					x.send()
				}
			}
			select {
			case <-p.stop:
				return
			default:
			}
		}
	}
}

// sock is a call's RTP socket as the pacer writes to it: straight sendto(2)
// without the runtime's syscall bookkeeping, so the pacer keeps the P for
// the whole burst (with GOMAXPROCS 1 a send that let go of it could wait
// for another goroutine to finish before the next packet).
type sock struct {
	rc     syscall.RawConn
	family int // of the socket: AF_INET or AF_INET6
	// The packet being sent and its destination, for write.
	buf   []byte
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	errno syscall.Errno
	write func(fd uintptr) bool
}

func newSock(m *media) *sock {
	s := &sock{}
	rc, err := m.conn.SyscallConn()
	if err != nil {
		return s
	}
	fam := 0
	if rc.Control(func(fd uintptr) {
		fam, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
	}) != nil || err != nil {
		return s
	}
	s.rc, s.family = rc, fam
	s.write = func(fd uintptr) bool {
		var sa unsafe.Pointer
		var salen uintptr
		if s.family == syscall.AF_INET {
			sa, salen = unsafe.Pointer(&s.sa4), syscall.SizeofSockaddrInet4
		} else {
			sa, salen = unsafe.Pointer(&s.sa6), syscall.SizeofSockaddrInet6
		}
		_, _, s.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)), syscall.MSG_DONTWAIT, uintptr(sa), salen)
		return true // a full buffer drops the packet, as UDP would
	}
	return s
}

// send writes pkt to remote; false when it was not sent.
func (s *sock) send(m *media, pkt []byte, remote netip.AddrPort) bool {
	if s.rc == nil {
		_, err := m.conn.WriteToUDPAddrPort(pkt, remote)
		return err == nil
	}
	a := remote.Addr()
	switch {
	case s.family == syscall.AF_INET:
		if a.Is4In6() {
			a = a.Unmap()
		}
		if !a.Is4() {
			return false
		}
		s.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.sa4.Port))[:], remote.Port())
	default:
		s.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.sa6.Port))[:], remote.Port())
	}
	s.buf = pkt
	if s.rc.Write(s.write) != nil {
		return false
	}
	return s.errno == 0
}

// send sends the call's next 20 ms: playback, or silence once some audio
// has been sent (none before: the timestamp advances, the marker waits).
func (x *member) send() {
	m := x.m
	pcm := m.pcm[:]
	m.mu.Lock()
	clear(pcm)
	if m.cur != nil || m.src != nil {
		m.audible = true
	}
	if pb := m.cur; pb != nil {
		k := copy(pcm, pb.pcm[pb.pos:])
		pb.pos += k
		if pb.pos >= len(pb.pcm) {
			m.cur = nil
			close(pb.done)
		}
	} else if m.src != nil {
		m.src.read(pcm)
	}
	ts := m.ts
	m.ts += frameSamples
	if !m.audible || !m.sending || !m.remote.IsValid() {
		m.mu.Unlock()
		return
	}
	m.seq++
	pkt := &m.pkt
	pkt.SequenceNumber = m.seq
	pkt.Timestamp = ts
	pkt.Marker = m.marker
	m.marker = false
	pkt.PayloadType = uint8(m.pt)
	remote := m.remote
	pt := m.pt
	m.mu.Unlock()
	payload := m.payload[:]
	if pt == ptPCMA {
		for i := range payload {
			payload[i] = g711.EncodeAlawFrame(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
		}
	} else {
		for i := range payload {
			payload[i] = g711.EncodeUlawFrame(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
		}
	}
	pkt.Payload = payload
	n, err := pkt.MarshalTo(m.buf[:])
	if err != nil {
		return
	}
	if x.s.send(m, m.buf[:n], remote) {
		m.stats.packets.Add(1)
	}
}
