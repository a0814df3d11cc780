package siptest

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

// Phone is a minimal SIP phone on sipgo for tests that need to look at the
// media: it calls with an SDP offer (PCMU + telephone-event 101) pointing
// at its own RTP socket, records every RTP packet it receives with its
// arrival time, sends RFC 4733 keys, and answers BYE.
type Phone struct {
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	cli    *sipgo.Client
	udp    *net.UDPConn
	rtp    *net.UDPConn
	dialog *sipgo.DialogClientSession
	remote netip.AddrPort // where to send RTP (from the answer)

	mu       sync.Mutex
	received []Packet
	bye      chan struct{}
	byeOnce  sync.Once
	wg       sync.WaitGroup
	seq      uint16
	ts       uint32
}

// Packet is one RTP packet the phone received.
type Packet struct {
	At     time.Time
	Header rtp.Header
	Len    int  // payload bytes
	Silent bool // a G.711 payload of silence only
}

// Call places a call over UDP from 127.0.0.1 to sip:user@target and waits
// for the answer (ctx bounds it).
func Call(ctx context.Context, target netip.AddrPort, user string) (*Phone, error) {
	return CallWith(ctx, CallOptions{Target: target, User: user})
}

// CallOptions describe a call of CallWith.
type CallOptions struct {
	Target    netip.AddrPort
	User      string
	Transport string      // "udp" (default), "tcp" or "tls"
	TLS       *tls.Config // for "tls": how to trust the server (RootCAs)
}

// InviteResponse is the 200 OK that answered the call.
func (p *Phone) InviteResponse() *sip.Response { return p.dialog.InviteResponse }

// CallWith places a call as Call does, over opts.Transport (the media is
// RTP over UDP whatever the signalling transport).
func CallWith(ctx context.Context, opts CallOptions) (*Phone, error) {
	target, user := opts.Target, opts.User
	transport := strings.ToLower(opts.Transport)
	if transport == "" {
		transport = "udp"
	}
	p := &Phone{bye: make(chan struct{}), seq: 1000, ts: 8000}
	var err error
	if p.udp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		return nil, err
	}
	if p.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		p.udp.Close()
		return nil, err
	}
	port := p.udp.LocalAddr().(*net.UDPAddr).Port
	fail := func(err error) (*Phone, error) {
		p.Close()
		return nil, err
	}
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent("siptest-phone"), sipgo.WithUserAgentHostname("127.0.0.1")}
	if opts.TLS != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(opts.TLS))
	}
	if p.ua, err = sipgo.NewUA(uaOpts...); err != nil {
		return fail(err)
	}
	if p.srv, err = sipgo.NewServer(p.ua); err != nil {
		return fail(err)
	}
	hp := "127.0.0.1:" + strconv.Itoa(port)
	cliOpts := []sipgo.ClientOption{sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(port)}
	if transport == "udp" {
		cliOpts = append(cliOpts, sipgo.WithClientConnectionAddr(hp))
	}
	if p.cli, err = sipgo.NewClient(p.ua, cliOpts...); err != nil {
		return fail(err)
	}
	p.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if p.dialog != nil {
			_ = p.dialog.ReadBye(req, tx)
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		p.byeOnce.Do(func() { close(p.bye) })
	})
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _ = p.srv.ServeUDP(p.udp) }()
	go func() { defer p.wg.Done(); p.readRTP() }()
	if err := waitListening(ctx, p.ua, hp); err != nil {
		return fail(err)
	}

	rtpPort := p.rtp.LocalAddr().(*net.UDPAddr).Port
	offer := fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", rtpPort)
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "phone", Host: "127.0.0.1", Port: port}}
	uri := sip.Uri{Scheme: "sip", User: user, Host: target.Addr().String(), Port: int(target.Port())}
	if transport != "udp" {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", transport)
		uri.UriParams = sip.NewParams()
		uri.UriParams.Add("transport", transport)
	}
	dua := sipgo.DialogUA{Client: p.cli, ContactHDR: contact, RewriteContact: transport != "udp"}
	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(strings.ToUpper(transport))
	req.SetBody([]byte(offer))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	from := &sip.FromHeader{DisplayName: "Test Phone", Address: sip.Uri{Scheme: "sip", User: "phone", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(12))
	req.AppendHeader(from)
	d, err := dua.WriteInvite(ctx, req)
	if err != nil {
		return fail(err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		return fail(err)
	}
	p.dialog = d
	if err := d.Ack(ctx); err != nil {
		return fail(err)
	}
	p.remote, err = sdpAddr(d.InviteResponse.Body())
	if err != nil {
		return fail(err)
	}
	return p, nil
}

// sdpAddr reads c= and m=audio of an SDP answer.
func sdpAddr(body []byte) (netip.AddrPort, error) {
	var ip netip.Addr
	var port int
	for _, line := range splitLines(string(body)) {
		var a, b string
		if n, _ := fmt.Sscanf(line, "c=IN IP4 %s", &a); n == 1 {
			ip, _ = netip.ParseAddr(a)
		}
		if n, _ := fmt.Sscanf(line, "m=audio %d %s", &port, &b); n == 2 {
			continue
		}
	}
	if !ip.IsValid() || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("siptest: answer without an audio address:\n%s", body)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, trimCR(s[start:i]))
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, trimCR(s[start:]))
	}
	return out
}

func trimCR(s string) string {
	if len(s) > 0 && s[len(s)-1] == '\r' {
		return s[:len(s)-1]
	}
	return s
}

func (p *Phone) readRTP() {
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	kernelTime := enableTimestamps(p.rtp)
	for {
		n, oobn, _, _, err := p.rtp.ReadMsgUDP(buf, oob)
		if err != nil {
			return
		}
		at := time.Now()
		if kernelTime {
			if t, ok := rxTimestamp(oob[:oobn]); ok {
				at = t // when the kernel took the packet: no scheduling noise of ours
			}
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		silent := true
		for _, b := range pkt.Payload {
			// µ-law silence is 0xFF/0x7F, A-law 0xD5/0x55 (give or take 1)
			if b&0x7F < 0x7D && b&0x7F != 0x55 && b&0x7F != 0x54 {
				silent = false
				break
			}
		}
		p.mu.Lock()
		if len(p.received) < 100000 {
			p.received = append(p.received, Packet{At: at, Header: pkt.Header, Len: len(pkt.Payload), Silent: silent})
		}
		p.mu.Unlock()
	}
}

// Received returns a copy of the RTP packets received so far.
func (p *Phone) Received() []Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Packet(nil), p.received...)
}

// SendDigit sends key as RFC 4733 events (payload type 101): a start
// packet, two updates and three end packets, 20 ms apart.
func (p *Phone) SendDigit(key rune) error {
	const keys = "0123456789*#ABCD"
	ev := -1
	for i, k := range keys {
		if k == key {
			ev = i
		}
	}
	if ev < 0 {
		return fmt.Errorf("siptest: %q is not a DTMF key", key)
	}
	p.mu.Lock()
	p.ts += 1600
	ts := p.ts
	p.mu.Unlock()
	for i := 0; i < 6; i++ {
		end := i >= 3
		dur := uint16(160 * (i + 1))
		if end {
			dur = 640
		}
		p.mu.Lock()
		p.seq++
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: p.seq, Timestamp: ts, SSRC: 0x1234, Marker: i == 0},
			Payload: []byte{byte(ev), 10, byte(dur >> 8), byte(dur)}}
		p.mu.Unlock()
		if end {
			pkt.Payload[1] |= 0x80
		}
		b, _ := pkt.Marshal()
		if _, err := p.rtp.WriteToUDPAddrPort(b, p.remote); err != nil {
			return err
		}
		if i < 3 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Bye returns a channel closed when the far end hung up.
func (p *Phone) Bye() <-chan struct{} { return p.bye }

// Hangup sends BYE.
func (p *Phone) Hangup(ctx context.Context) error {
	if p.dialog == nil {
		return errors.New("siptest: no call")
	}
	return p.dialog.Bye(ctx)
}

// Close stops the phone (no BYE; call Hangup first for a clean end).
func (p *Phone) Close() {
	if p.ua != nil {
		p.ua.Close()
	}
	if p.udp != nil {
		p.udp.Close()
	}
	if p.rtp != nil {
		p.rtp.Close()
	}
	p.wg.Wait()
}

// waitListening waits until sipgo serves the UDP socket at hp (requests
// sent before would try to bind it again).
func waitListening(ctx context.Context, ua *sipgo.UserAgent, hp string) error {
	for {
		if c, _ := ua.TransportLayer().GetConnection("udp", hp); c != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// SendTone sends a 440 Hz PCMU tone for d, one packet every 20 ms.
func (p *Phone) SendTone(d time.Duration) error {
	start := time.Now()
	for i := 0; time.Duration(i)*20*time.Millisecond < d; i++ {
		payload := make([]byte, 160)
		for j := range payload {
			v := 8000 * math.Sin(2*math.Pi*440*float64(i*160+j)/8000)
			payload[j] = g711.EncodeUlawFrame(int16(v))
		}
		p.mu.Lock()
		p.seq++
		p.ts += 160
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: 0x1234, Marker: i == 0}, Payload: payload}
		p.mu.Unlock()
		b, _ := pkt.Marshal()
		if _, err := p.rtp.WriteToUDPAddrPort(b, p.remote); err != nil {
			return err
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 20 * time.Millisecond)))
	}
	return nil
}

// enableTimestamps asks the kernel to stamp received packets
// (SO_TIMESTAMPNS), so arrival times do not include our own scheduling.
func enableTimestamps(c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = raw.Control(func(fd uintptr) {
		ok = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) == nil
	})
	return ok
}

// rxTimestamp reads the SCM_TIMESTAMPNS control message.
func rxTimestamp(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.LittleEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.LittleEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

// RemoteMedia is where the phone sends RTP: the address of the answer's SDP.
func (p *Phone) RemoteMedia() netip.AddrPort { return p.remote }
