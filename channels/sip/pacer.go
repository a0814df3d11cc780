package sip

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// pacer sends the RTP of every call of a channel from one goroutine, on one
// schedule of 20 ms slots: it sleeps until just before a slot and spins the
// rest, so packets leave within a fraction of a millisecond of their slot
// whatever the number of calls (one wake-up per slot, not one per call).
type pacer struct {
	mu      sync.Mutex
	members map[*media]struct{}
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	slots atomic.Int64 // slots served
	late  atomic.Int64 // slots whose sending started > 5 ms late
	lag   atomic.Int64 // worst lateness seen (ns)
}

// spin is how long before a slot the pacer stops sleeping and spins.
const spin = time.Millisecond

func newPacer() *pacer {
	p := &pacer{members: map[*media]struct{}{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *pacer) add(m *media) {
	p.mu.Lock()
	p.members[m] = struct{}{}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pacer) remove(m *media) {
	p.mu.Lock()
	delete(p.members, m)
	p.mu.Unlock()
}

func (p *pacer) close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

func (p *pacer) run() {
	defer close(p.done)
	var list []*media
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Idle until a call has media.
		p.mu.Lock()
		idle := len(p.members) == 0
		p.mu.Unlock()
		if idle {
			select {
			case <-p.stop:
				return
			case <-p.wake:
				continue
			}
		}
		start := time.Now()
		for n := int64(1); ; n++ {
			slot := start.Add(time.Duration(n) * frameDur)
			if d := time.Until(slot) - spin; d > 0 {
				// A runtime timer, not a thread sleep: a goroutine back
				// from a blocking syscall may wait for a P (up to 20 ms).
				timer.Reset(d)
				select {
				case <-p.stop:
					return
				case <-timer.C:
				}
			}
			for i := 0; time.Now().Before(slot); i++ {
				if i&63 == 63 {
					runtime.Gosched() // let others run now and then (GOMAXPROCS=1)
				}
			}
			lag := time.Since(slot)
			p.mu.Lock()
			list = list[:0]
			for m := range p.members {
				list = append(list, m)
			}
			p.mu.Unlock()
			if len(list) == 0 {
				break
			}
			if lag > 10*frameDur { // the machine stalled: skip the lost slots
				skipped := int64(lag / frameDur)
				for _, m := range list {
					m.skip(skipped)
				}
				n += skipped
			}
			p.slots.Add(1)
			if lag > 5*time.Millisecond {
				p.late.Add(1)
			}
			if int64(lag) > p.lag.Load() {
				p.lag.Store(int64(lag))
			}
			for _, m := range list {
				m.sendFrame()
			}
			select {
			case <-p.stop:
				return
			default:
			}
		}
	}
}
