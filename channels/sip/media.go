package sip

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

// Media framing: 20 ms of 8 kHz audio.
const (
	frameDur     = 20 * time.Millisecond
	frameSamples = 160
	frameBytes   = frameSamples * 2 // s16le PCM
)

// media is the RTP side of one call: one UDP socket, a sender that emits a
// packet every 20 ms (the current playback, or silence) and a reader that
// turns telephone-events into digits, feeds a recorder and watches for the
// far end going quiet.
type media struct {
	conn  *net.UDPConn
	local netip.AddrPort
	log   *slog.Logger

	onDigit   func(rune)
	onTimeout func()
	timeout   time.Duration
	// latch: symmetric RTP (comedia): take the first source that sends
	// after a negotiation as the far end, send to it and hear only it.
	// Without latch only the SDP address is heard.
	latch bool

	mu      sync.Mutex
	remote  netip.AddrPort
	sdpAddr netip.AddrPort // the far end's address as its SDP gave it
	latched bool           // remote is the latched source
	pt      int
	dtmfPT  int
	sending bool // our direction allows sending
	hearing bool // the far end is expected to send
	cur     *playback
	src     *stream // live audio (a bridged leg) when nothing plays
	rec     func(pcm []byte)
	marker  bool
	// audible turns true with the first audio (a prompt or a bridged
	// leg): before it no RTP goes out (a call that only answers and hangs
	// up costs no packets); after it silence keeps the stream going.
	audible bool

	ssrc uint32
	seq  uint16
	ts   uint32

	lastRecv atomic.Int64 // unix nanos
	stats    sendStats
	foreign  atomic.Int64 // packets dropped: from a source that is not the far end

	// The pacer's buffers.
	pkt     rtp.Packet
	pcm     [frameBytes]byte
	payload [frameSamples]byte
	buf     [12 + frameSamples + 16]byte
	pacer   *pacer

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// sendStats are counters of the sender, for tests and benchmarks.
type sendStats struct {
	packets atomic.Int64
}

// playback is PCM being streamed; done closes when it ran out or stopped.
type playback struct {
	pcm  []byte
	pos  int
	done chan struct{}
}

// listenRTP opens a UDP socket for RTP on ip, in ports when set.
func listenRTP(ip netip.Addr, ports [2]int) (*net.UDPConn, error) {
	if ports[0] <= 0 || ports[1] < ports[0] {
		return net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	lo, hi := ports[0], ports[1]
	n := hi - lo + 1
	start := rand.IntN(n)
	var last error
	for i := 0; i < n && i < 64; i++ {
		p := lo + (start+i)%n
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p))))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, errors.Join(errors.New("no free RTP port in the configured range (widen sip.rtpPorts)"), last)
}

func newMedia(conn *net.UDPConn, p *pacer, log *slog.Logger) *media {
	m := &media{
		pacer:  p,
		conn:   conn,
		local:  conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		log:    log,
		ssrc:   rand.Uint32(),
		seq:    uint16(rand.Uint32()),
		ts:     rand.Uint32(),
		stop:   make(chan struct{}),
		dtmfPT: -1,
		marker: true,
	}
	m.pkt.Header = rtp.Header{Version: 2, SSRC: m.ssrc}
	return m
}

// setRemote applies a negotiated SDP (offer or answer) of the far end.
func (m *media) setRemote(remote sdpInfo, pt int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	wasSending := m.sending
	if remote.addr != m.sdpAddr || !m.latched {
		// A new address in the SDP: hear it (and latch afresh).
		m.remote = remote.addr
		m.latched = false
	}
	m.sdpAddr = remote.addr
	m.pt = pt
	m.dtmfPT = remote.dtmfPT
	// The far end's direction is from its point of view.
	m.sending = remote.addr.Port() != 0 && !remote.addr.Addr().IsUnspecified() &&
		(remote.direction == "sendrecv" || remote.direction == "recvonly")
	m.hearing = remote.addr.Port() != 0 && (remote.direction == "sendrecv" || remote.direction == "sendonly")
	if m.sending && !wasSending {
		m.marker = true
	}
	m.lastRecv.Store(time.Now().UnixNano())
}

// start runs the sender and the reader.
func (m *media) start() {
	m.lastRecv.Store(time.Now().UnixNano())
	m.wg.Add(1)
	go m.readLoop()
	m.pacer.add(m)
}

// close stops both loops, closes the socket and ends any playback.
func (m *media) close() {
	m.stopOnce.Do(func() {
		m.pacer.remove(m)
		close(m.stop)
		m.conn.Close()
	})
	m.wg.Wait()
	m.mu.Lock()
	if m.cur != nil {
		close(m.cur.done)
		m.cur = nil
	}
	m.mu.Unlock()
}

// play streams pcm (8 kHz s16le) and returns once it was sent, ctx is done,
// interrupt fires, or the media closed. It reports whether it played to the end.
func (m *media) play(ctx context.Context, pcm []byte, interrupt <-chan struct{}) (bool, error) {
	p := &playback{pcm: pcm, done: make(chan struct{})}
	m.mu.Lock()
	if m.cur != nil {
		close(m.cur.done)
	}
	m.cur = p
	m.mu.Unlock()
	stopIt := func() {
		m.mu.Lock()
		if m.cur == p {
			m.cur = nil
			close(p.done)
		}
		m.mu.Unlock()
	}
	select {
	case <-p.done:
		select {
		case <-m.stop:
			return false, errMediaClosed
		default:
		}
		return true, nil
	case <-ctx.Done():
		stopIt()
		return false, ctx.Err()
	case <-interrupt:
		stopIt()
		return false, nil
	case <-m.stop:
		stopIt()
		return false, errMediaClosed
	}
}

var errMediaClosed = errors.New("sip: the call's media ended")

// setRecorder makes the reader hand decoded inbound audio to f (nil stops).
func (m *media) setRecorder(f func(pcm []byte)) {
	m.mu.Lock()
	m.rec = f
	m.mu.Unlock()
}

// skip advances the timestamp over frames the pacer could not send in time.
func (m *media) skip(frames int64) {
	m.mu.Lock()
	m.ts += uint32(frames * frameSamples)
	m.marker = true
	m.mu.Unlock()
}

func (m *media) readLoop() {
	defer m.wg.Done()
	buf := make([]byte, 1500)
	var dec dtmfDecoder
	var pkt rtp.Packet
	timedOut := false
	for {
		m.conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		n, src, err := m.conn.ReadFromUDPAddrPort(buf)
		select {
		case <-m.stop:
			return
		default:
		}
		now := time.Now()
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return
			}
			m.mu.Lock()
			hearing := m.hearing
			m.mu.Unlock()
			if !hearing {
				m.lastRecv.Store(now.UnixNano())
			}
			if m.timeout > 0 && !timedOut && now.Sub(time.Unix(0, m.lastRecv.Load())) > m.timeout {
				timedOut = true
				if m.onTimeout != nil {
					m.onTimeout()
				}
			}
			continue
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if !m.fromFarEnd(src) {
			if m.foreign.Add(1) == 1 {
				m.log.Info("sip: RTP from a source that is not the call's far end dropped", "source", src.String(), "far_end", m.remoteAddr().String())
			}
			continue
		}
		m.lastRecv.Store(now.UnixNano())
		m.mu.Lock()
		dtmfPT, pt, rec := m.dtmfPT, m.pt, m.rec
		m.mu.Unlock()
		switch {
		case int(pkt.PayloadType) == dtmfPT && dtmfPT >= 0:
			if k, ok := dec.feed(pkt.Timestamp, pkt.Marker, pkt.Payload); ok && m.onDigit != nil {
				m.onDigit(k)
			}
		case rec != nil && int(pkt.PayloadType) == pt:
			if pt == ptPCMA {
				rec(g711.DecodeAlaw(pkt.Payload))
			} else {
				rec(g711.DecodeUlaw(pkt.Payload))
			}
		}
	}
}

// fromFarEnd reports whether an RTP packet from src belongs to the call:
// it comes from the address of the far end's SDP (an unspecified SDP
// address, as in an RFC 2543 hold, accepts any source). With latch the
// first source after a negotiation becomes the far end (we then send to
// it too) and only it is heard.
func (m *media) fromFarEnd(src netip.AddrPort) bool {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.latch {
		if !m.latched {
			m.latched = true
			if src != m.remote {
				m.log.Debug("sip: RTP latched to its source", "source", src.String(), "sdp", m.sdpAddr.String())
				m.remote = src
			}
		}
		return src == m.remote
	}
	if !m.sdpAddr.IsValid() || m.sdpAddr.Addr().IsUnspecified() {
		return true
	}
	return src == m.sdpAddr
}

func (m *media) remoteAddr() netip.AddrPort {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remote
}

// setSource makes the sender stream src when nothing plays (nil stops).
func (m *media) setSource(src *stream) {
	m.mu.Lock()
	m.src = src
	m.mu.Unlock()
}

// stream is a bounded FIFO of PCM between two legs of a bridge: the reader
// of one leg writes, the pacer of the other reads one frame per slot.
type stream struct {
	mu  sync.Mutex
	buf []byte
}

// maxStream bounds what waits in a stream (200 ms); older audio is dropped.
const maxStream = 10 * frameBytes

func (s *stream) write(p []byte) {
	s.mu.Lock()
	s.buf = append(s.buf, p...)
	if over := len(s.buf) - maxStream; over > 0 {
		s.buf = append(s.buf[:0], s.buf[over:]...)
	}
	s.mu.Unlock()
}

// read fills p (zeros when too little is waiting).
func (s *stream) read(p []byte) {
	s.mu.Lock()
	n := copy(p, s.buf)
	s.buf = append(s.buf[:0], s.buf[n:]...)
	s.mu.Unlock()
	clear(p[n:])
}
