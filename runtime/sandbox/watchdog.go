package sandbox

import (
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"time"
)

const (
	// victimGrace is how long the watchdog waits for a stopped session to
	// unwind before it may pick another.
	victimGrace = time.Second
	// minGCGap spaces out the watchdog's forced collections when the heap
	// stays high without a victim to stop.
	minGCGap = 50 * time.Millisecond
	// minVictimSize is the least an idle session must hold to be stopped
	// for the process's memory.
	minVictimSize = 1 << 20
)

// watchdog is the heap watchdog's state; only its goroutine touches it.
type watchdog struct {
	samples  []metrics.Sample
	victim   *Session
	victimAt time.Time
	lastGC   time.Time
}

type stopped struct {
	s   *Session
	err *LimitError
}

func (sb *Sandbox) watch() {
	sb.wd.samples = []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	t := time.NewTicker(sb.interval)
	defer t.Stop()
	var stops []stopped
	for {
		select {
		case <-sb.done:
			return
		case <-t.C:
		}
		stops = sb.checkClocks(stops[:0])
		if st, heap := sb.checkHeap(); st.s != nil {
			sb.log.Warn("sandbox: stopping session for the process's memory", "detail", st.err.Detail, "heap", heap)
		}
		for _, st := range stops {
			sb.log.Info("sandbox: session over its limit", "kind", st.err.Kind, "detail", st.err.Detail)
		}
	}
}

// checkClocks stops the sessions over their compute time or SessionMax
// (checked here rather than with a timer per session: starting a session
// stays cheap, and this loop visits every session anyway).
func (sb *Sandbox) checkClocks(stops []stopped) []stopped {
	now := sb.nanotime()
	compute := int64(sb.limits.Compute)
	sessionMax := int64(sb.limits.SessionMax)
	sb.mu.Lock()
	for s := range sb.sessions {
		if s.stopped.Load() {
			continue
		}
		if now-s.started > sessionMax {
			s.Stop(sb.sessionOver)
			stops = append(stops, stopped{s, sb.sessionOver})
			continue
		}
		if p := s.phase.Load(); p != 0 && now-p > compute {
			err := &LimitError{Kind: KindCompute, Detail: fmt.Sprintf("ran Lua for more than %v without waiting for input", sb.limits.Compute)}
			s.Stop(err)
			stops = append(stops, stopped{s, err})
		}
	}
	sb.mu.Unlock()
	return stops
}

func (sb *Sandbox) heapInUse() int64 {
	metrics.Read(sb.wd.samples)
	var n int64
	for _, s := range sb.wd.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			n += int64(s.Value.Uint64())
		}
	}
	return n
}

// checkHeap defends HeapLimit: over 0.8 x HeapLimit it collects, and if the
// heap is still over, stops one session (never a second one while the
// first is unwinding). It returns the session it stopped, if any.
func (sb *Sandbox) checkHeap() (stopped, int64) {
	wd := &sb.wd
	if v := wd.victim; v != nil {
		if v.running.Load() && !v.finished.Load() && time.Since(wd.victimAt) < victimGrace {
			return stopped{}, 0 // still unwinding
		}
		wd.victim = nil
		runtime.GC() // what it held is garbage now
		wd.lastGC = time.Now()
	}
	threshold := sb.heapLimit / 10 * 8
	heap := sb.heapInUse()
	if heap <= threshold {
		return stopped{}, heap
	}
	if time.Since(wd.lastGC) >= minGCGap {
		runtime.GC()
		wd.lastGC = time.Now()
		if heap = sb.heapInUse(); heap <= threshold {
			return stopped{}, heap
		}
	}
	v, detail := sb.pickVictim(heap)
	if v == nil {
		return stopped{}, heap
	}
	err := &LimitError{Kind: KindMemory, Detail: detail}
	v.Stop(err)
	sb.kills.Add(1)
	wd.victim = v
	wd.victimAt = time.Now()
	return stopped{v, err}, heap
}

// pickVictim chooses whom to stop when the process is low on memory: the
// session with the longest current compute phase if it has been computing
// for a while (it is the one growing); otherwise the idle session holding
// the most, found by walking the values of sessions blocked in Go (the
// Blocking boundary is the lock: the walk never races a running script);
// and, when the heap is close to the limit itself, the longest computing
// session after all.
func (sb *Sandbox) pickVictim(heap int64) (*Session, string) {
	now := sb.nanotime()
	minPhase := int64(4 * sb.interval)
	if minPhase < int64(20*time.Millisecond) {
		minPhase = int64(20 * time.Millisecond)
	}
	sb.mu.Lock()
	list := make([]*Session, 0, len(sb.sessions))
	for s := range sb.sessions {
		if !s.stopped.Load() {
			list = append(list, s)
		}
	}
	sb.mu.Unlock()

	var longest *Session
	var longestStart int64
	for _, s := range list {
		if p := s.phase.Load(); p != 0 && (longest == nil || p < longestStart) {
			longest, longestStart = s, p
		}
	}
	inUse := size(heap)
	if longest != nil && now-longestStart >= minPhase {
		return longest, fmt.Sprintf("the server ran low on memory (%s in use) while this session had been computing the longest", inUse)
	}

	var biggest *Session
	var most int64
	for _, s := range list {
		if s.phase.Load() != 0 || !s.runMu.TryLock() {
			continue
		}
		if !s.finished.Load() {
			if n, ok := s.safeEstimate(); ok && n > most {
				biggest, most = s, n
			}
		}
		s.runMu.Unlock()
	}
	if biggest != nil && most >= minVictimSize {
		return biggest, fmt.Sprintf("the server ran low on memory (%s in use) and this session held the most (about %s)", inUse, size(most))
	}
	if longest != nil && heap > sb.heapLimit/100*95 {
		return longest, fmt.Sprintf("the server ran out of memory (%s in use) while this session was computing", inUse)
	}
	return nil, ""
}

// safeEstimate walks an idle session from the watchdog goroutine. A state
// left inconsistent by a Go panic must not take the process down with it.
func (s *Session) safeEstimate() (n int64, ok bool) {
	defer func() {
		if recover() != nil {
			n, ok = 0, false
		}
	}()
	return s.estimate(math.MaxInt64, maxWalkNodes), true
}
