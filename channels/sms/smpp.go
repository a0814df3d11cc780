package sms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/chorus-dev/chorus/channels"
)

// Link states, as State reports them.
const (
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateFailed     = "failed"
	StateDisabled   = "disabled"
)

var (
	errLinkDown = errors.New("the SMPP link went down before the SMSC answered")
	errNoResp   = errors.New("the SMSC did not answer submit_sm in time (the message may or may not have gone out)")
)

// link is one SMPP transceiver bind, kept up by run.
type link struct {
	c      *Channel
	cfg    SMPPConfig
	log    *slog.Logger
	pace   *pacer
	window chan struct{} // one token per submit_sm waiting for its resp
	ref    atomic.Uint32 // concatenation references

	mu        sync.Mutex
	state     string
	detail    string
	retryAt   time.Time
	refused   bool // the last bind was refused: sends fail at once
	stopped   bool
	sess      *gosmpp.Session
	changed   chan struct{} // closed and replaced at every state change
	pending   map[int32]*pending
	waiters   int
	unbindAck chan struct{}
}

type pending struct {
	done chan submitResult // buffered 1
	out  *outgoing
}

type submitResult struct {
	id     string
	status data.CommandStatusType
	err    error
}

func newLink(c *Channel, cfg SMPPConfig) *link {
	return &link{
		c:       c,
		cfg:     cfg,
		log:     c.log.With("route", cfg.Name, "smsc", cfg.Addr),
		pace:    newPacer(cfg.SubmitPerSecond),
		window:  make(chan struct{}, cfg.Window),
		state:   StateConnecting,
		detail:  "not started",
		changed: make(chan struct{}),
		pending: map[int32]*pending{},
	}
}

// status reports the link's state for State.
func (l *link) status() (string, string, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state, l.detail, l.retryAt
}

// setStateLocked records a state change and wakes waiting senders.
func (l *link) setStateLocked(state, detail string, retryAt time.Time) {
	l.state, l.detail, l.retryAt = state, detail, retryAt
	close(l.changed)
	l.changed = make(chan struct{})
}

// set changes the state; refused (when given) records whether the last
// bind was refused, and stays as it was while a new bind is tried.
func (l *link) set(state, detail string, retryAt time.Time, refused ...bool) {
	l.mu.Lock()
	if len(refused) > 0 {
		l.refused = refused[0]
	}
	l.setStateLocked(state, detail, retryAt)
	l.mu.Unlock()
}

// run binds and keeps the link up until ctx is done, then unbinds.
func (l *link) run(ctx context.Context) {
	t := l.c.timing
	backoff := t.minBackoff
	defer func() {
		l.mu.Lock()
		l.stopped = true
		l.sess = nil
		l.setStateLocked(StateFailed, "the SMS channel is stopped", time.Time{})
		l.mu.Unlock()
		l.failPending(channelsStopped)
	}()
	for ctx.Err() == nil {
		l.set(StateConnecting, "binding to "+l.cfg.Addr, time.Time{})
		sess, closed, err := l.bind(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			detail, refused := bindFailure(err)
			l.set(StateFailed, detail, time.Now().Add(backoff), refused)
			l.log.Warn("sms: SMPP bind failed; will retry", "err", detail, "retry_in", backoff.String())
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, t.maxBackoff)
			continue
		}
		backoff = t.minBackoff
		l.mu.Lock()
		l.sess, l.refused = sess, false
		l.setStateLocked(StateConnected, "bound as transceiver", time.Time{})
		l.mu.Unlock()
		l.log.Info("sms: SMPP link bound", "system_id", l.cfg.SystemID)
		select {
		case <-ctx.Done():
			l.unbind(sess, closed)
			return
		case st := <-closed:
			l.mu.Lock()
			l.sess = nil
			l.setStateLocked(StateConnecting, "link dropped ("+closeReason(st)+"); rebinding", time.Time{})
			l.mu.Unlock()
			l.log.Warn("sms: SMPP link dropped; rebinding", "reason", closeReason(st))
			_ = sess.Close()
			l.failPending(errLinkDown)
			if !sleep(ctx, t.minBackoff) {
				return
			}
		}
	}
}

var channelsStopped = errors.New("the SMS channel stopped")

func closeReason(st gosmpp.State) string {
	switch st {
	case gosmpp.UnbindClosing:
		return "the SMSC unbound"
	case gosmpp.ConnectionIssue:
		return "write failed"
	case gosmpp.InvalidStreaming:
		return "connection lost or unreadable PDU"
	}
	return "closed"
}

// bindFailure describes a failed bind for State and logs, and reports
// whether the SMSC refused it (credentials) rather than being unreachable.
func bindFailure(err error) (string, bool) {
	var be gosmpp.BindError
	if errors.As(err, &be) {
		return fmt.Sprintf("bind refused with status %s (0x%08X: %s); check system_id, password and system_type",
			be.CommandStatus.String(), int32(be.CommandStatus), be.CommandStatus.Desc()), true
	}
	var oe *net.OpError
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		return "unreachable: " + err.Error(), false
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "no bind_resp from the SMSC in time: " + err.Error(), false
	}
	return "the SMSC closed the connection during the bind or answered badly: " + err.Error(), false
}

// bind dials and binds a transceiver. gosmpp's own auto-rebind is off: run
// rebinds with backoff so State can tell what is going on.
func (l *link) bind(ctx context.Context) (*gosmpp.Session, chan gosmpp.State, error) {
	t := l.c.timing
	var (
		mu   sync.Mutex
		conn *sniffConn
	)
	dial := func(addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: t.bindTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		// gosmpp reads bind_resp without a deadline of its own; after the
		// bind its reader and writer set theirs on every PDU.
		_ = c.SetDeadline(time.Now().Add(t.bindTimeout))
		sc := &sniffConn{Conn: c}
		mu.Lock()
		conn = sc
		mu.Unlock()
		return sc, nil
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
	})
	defer stop()
	closed := make(chan gosmpp.State, 1)
	settings := gosmpp.Settings{
		EnquireLink:  t.enquireLink,
		ReadTimeout:  3 * t.enquireLink,
		WriteTimeout: 10 * time.Second,
		OnAllPDU:     l.onPDU,
		OnSubmitError: func(p pdu.PDU, err error) {
			l.log.Warn("sms: writing a PDU to the SMSC failed", "err", err)
			l.resolve(p.GetSequenceNumber(), submitResult{err: errLinkDown})
		},
		OnReceivingError: func(err error) {
			l.log.Debug("sms: reading from the SMSC failed", "err", err)
		},
		OnClosed: func(st gosmpp.State) {
			select {
			case closed <- st:
			default:
			}
		},
	}
	auth := gosmpp.Auth{SMSC: l.cfg.Addr, SystemID: l.cfg.SystemID, Password: l.cfg.Password, SystemType: l.cfg.SystemType}
	sess, err := gosmpp.NewSession(gosmpp.TRXConnector(dial, auth), settings, -1)
	if err != nil {
		mu.Lock()
		sc := conn
		mu.Unlock()
		var be gosmpp.BindError
		if !errors.As(err, &be) && sc != nil {
			if st, ok := sc.bindStatus(); ok && st != data.ESME_ROK {
				err = gosmpp.BindError{CommandStatus: st}
			}
		}
		return nil, nil, err
	}
	return sess, closed, nil
}

// sniffConn keeps the first PDU header the SMSC sends. gosmpp v0.3.1 reads
// a system_id from every bind_transceiver_resp, so a refusal without a
// body (which SMPP 3.4 4.1.6 allows, and the npm smpp SMSC sends) fails as
// EOF; the header still tells the status.
type sniffConn struct {
	net.Conn
	mu   sync.Mutex
	head []byte
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if need := 16 - len(c.head); need > 0 {
		c.head = append(c.head, p[:min(n, need)]...)
	}
	c.mu.Unlock()
	return n, err
}

// bindStatus is the command_status of a bind_transceiver_resp header read.
func (c *sniffConn) bindStatus() (data.CommandStatusType, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.head) < 16 || data.CommandIDType(binary.BigEndian.Uint32(c.head[4:8])) != data.BIND_TRANSCEIVER_RESP {
		return 0, false
	}
	return data.CommandStatusType(binary.BigEndian.Uint32(c.head[8:12])), true
}

// unbind sends unbind, waits a moment for unbind_resp, and closes.
func (l *link) unbind(sess *gosmpp.Session, closed chan gosmpp.State) {
	ack := make(chan struct{})
	l.mu.Lock()
	l.sess = nil
	l.unbindAck = ack
	l.mu.Unlock()
	if err := sess.Transceiver().Submit(pdu.NewUnbind()); err == nil {
		select {
		case <-ack:
		case <-closed:
		case <-time.After(2 * time.Second):
			l.log.Warn("sms: the SMSC did not answer unbind within 2 s; closing anyway")
		}
	}
	_ = sess.Close()
	l.log.Info("sms: SMPP link unbound")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// onPDU handles every PDU the SMSC sends (gosmpp's reader goroutine). The
// returned PDU is the response, if any; true closes the bind.
func (l *link) onPDU(p pdu.PDU) (pdu.PDU, bool) {
	switch p := p.(type) {
	case *pdu.DeliverSM:
		resp := p.GetResponse().(*pdu.DeliverSMResp)
		resp.CommandStatus = l.onDeliver(p)
		return resp, false
	case *pdu.DataSM:
		resp := p.GetResponse().(*pdu.DataSMResp)
		resp.CommandStatus = l.onDataSM(p)
		return resp, false
	case *pdu.SubmitSMResp:
		if !l.resolve(p.SequenceNumber, submitResult{id: p.MessageID, status: p.CommandStatus}) {
			l.log.Info("sms: submit_sm_resp for no waiting submit (answered too late?)", "message_id", p.MessageID, "status", p.CommandStatus.String())
		}
	case *pdu.GenericNack:
		if !l.resolve(p.SequenceNumber, submitResult{status: p.CommandStatus}) {
			l.log.Warn("sms: the SMSC sent generic_nack", "status", p.CommandStatus.String())
		}
	case *pdu.EnquireLink:
		return p.GetResponse(), false
	case *pdu.EnquireLinkResp, *pdu.DeliverSMResp:
	case *pdu.Unbind:
		l.log.Info("sms: the SMSC asked to unbind")
		return p.GetResponse(), true
	case *pdu.UnbindResp:
		l.mu.Lock()
		if l.unbindAck != nil {
			close(l.unbindAck)
			l.unbindAck = nil
		}
		l.mu.Unlock()
	default:
		if p.CanResponse() {
			l.log.Warn("sms: the SMSC sent a request this channel does not handle; answered generic_nack", "command", p.GetHeader().CommandID.String())
			n := pdu.NewGenericNack().(*pdu.GenericNack)
			n.SequenceNumber = p.GetSequenceNumber()
			n.CommandStatus = data.ESME_RINVCMDID
			return n, false
		}
	}
	return nil, false
}

// resolve hands a result to the submit waiting for sequence number seq.
// It records the message id for receipts first, on the reader goroutine,
// so a receipt right behind the resp finds it.
func (l *link) resolve(seq int32, r submitResult) bool {
	l.mu.Lock()
	p := l.pending[seq]
	delete(l.pending, seq)
	l.mu.Unlock()
	if p == nil {
		return false
	}
	if r.err == nil && r.status == data.ESME_ROK {
		l.c.sent.add(l.cfg.Name, r.id, p.out)
	}
	p.done <- r
	return true
}

func (l *link) failPending(err error) {
	l.mu.Lock()
	ps := l.pending
	l.pending = map[int32]*pending{}
	l.mu.Unlock()
	for _, p := range ps {
		p.done <- submitResult{err: err}
	}
}

// await returns the bound session, waiting (bounded by ctx, the link wait
// and the number of waiting senders) while the link is down.
func (l *link) await(ctx context.Context) (*gosmpp.Session, error) {
	l.mu.Lock()
	if l.sess != nil {
		defer l.mu.Unlock()
		return l.sess, nil
	}
	if l.waiters >= l.c.timing.maxQueued {
		n := l.waiters
		l.mu.Unlock()
		return nil, fmt.Errorf("SMPP route %q is down and %d messages already wait for it: %w", l.cfg.Name, n, channels.ErrQueueFull)
	}
	l.waiters++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiters--
		l.mu.Unlock()
	}()
	limit := time.NewTimer(l.c.timing.linkWait)
	defer limit.Stop()
	for {
		l.mu.Lock()
		sess, stopped, refused, detail, ch := l.sess, l.stopped, l.refused, l.detail, l.changed
		l.mu.Unlock()
		switch {
		case sess != nil:
			return sess, nil
		case stopped:
			return nil, fmt.Errorf("SMPP route %q: %s: %w", l.cfg.Name, detail, channels.ErrUnavailable)
		case refused:
			return nil, fmt.Errorf("SMPP route %q cannot send: %s: %w", l.cfg.Name, detail, channels.ErrUnavailable)
		}
		select {
		case <-ch:
		case <-limit.C:
			return nil, fmt.Errorf("SMPP route %q has been down for %s (%s): %w", l.cfg.Name, l.c.timing.linkWait, detail, channels.ErrUnavailable)
		case <-ctx.Done():
			return nil, fmt.Errorf("SMPP route %q is down (%s) and the sender stopped waiting: %w", l.cfg.Name, detail, context.Cause(ctx))
		}
	}
}

// send submits text from our number to theirs, split and encoded as
// needed; parts go out in order, each after the previous one's resp.
func (l *link) send(ctx context.Context, from, to, text, session string) error {
	enc, err := encodeSMS(text)
	if err != nil {
		return err
	}
	out := &outgoing{session: session, parts: len(enc.parts)}
	total := len(enc.parts)
	ref := byte(l.ref.Add(1))
	for i, payload := range enc.parts {
		sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
		sm.SourceAddr = wireAddr(from)
		sm.DestAddr = wireAddr(to)
		sm.RegisteredDelivery = 1 // SMSC delivery receipt on success and failure
		coding := data.GSM7BIT    // unpacked septets, data_coding 0x00
		if enc.coding == codingUCS2 {
			coding = data.UCS2
		}
		msg, err := pdu.NewBinaryShortMessageWithEncoding(payload, coding)
		if err != nil {
			return err
		}
		if total > 1 {
			msg.SetUDH(pdu.UDH{pdu.NewIEConcatMessage(byte(total), byte(i+1), ref)})
			sm.EsmClass |= data.SM_UDH_GSM
		}
		sm.Message = msg
		if err := l.submit(ctx, sm, out); err != nil {
			if total > 1 {
				return fmt.Errorf("part %d of %d: %w", i+1, total, err)
			}
			return err
		}
	}
	return nil
}

// submit sends one submit_sm and waits for its resp. It waits for the link
// while it is down, for the rate limit and for a window slot. A submit
// whose link dropped before the resp is sent again on the next bind (at
// least once: the SMSC may have taken it), as is one the SMSC throttled.
func (l *link) submit(ctx context.Context, sm *pdu.SubmitSM, out *outgoing) error {
	const attempts = 4
	for attempt := 1; ; attempt++ {
		sess, err := l.await(ctx)
		if err != nil {
			return err
		}
		if err := l.pace.wait(ctx); err != nil {
			return fmt.Errorf("waiting for the submit rate of SMPP route %q: %w", l.cfg.Name, err)
		}
		select {
		case l.window <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("waiting for a window slot on SMPP route %q: %w", l.cfg.Name, context.Cause(ctx))
		}
		sm.AssignSequenceNumber()
		seq := sm.GetSequenceNumber()
		p := &pending{done: make(chan submitResult, 1), out: out}
		l.mu.Lock()
		l.pending[seq] = p
		l.mu.Unlock()
		var r submitResult
		if err := sess.Transceiver().Submit(sm); err != nil {
			l.mu.Lock()
			delete(l.pending, seq)
			l.mu.Unlock()
			r = submitResult{err: errLinkDown}
		} else {
			timer := time.NewTimer(l.c.timing.respTimeout)
			select {
			case r = <-p.done:
			case <-timer.C:
				r = submitResult{err: errNoResp}
			case <-ctx.Done():
				r = submitResult{err: context.Cause(ctx)}
			}
			timer.Stop()
			l.mu.Lock()
			delete(l.pending, seq)
			l.mu.Unlock()
		}
		<-l.window
		switch {
		case errors.Is(r.err, errLinkDown) && attempt < attempts:
			l.log.Info("sms: the link dropped before submit_sm_resp; submitting again after the rebind")
			continue
		case r.err != nil:
			return fmt.Errorf("SMPP route %q: %w", l.cfg.Name, r.err)
		case (r.status == data.ESME_RTHROTTLED || r.status == data.ESME_RMSGQFUL) && attempt < attempts:
			wait := time.Duration(attempt) * l.c.timing.throttleWait
			l.log.Warn("sms: the SMSC is throttling submits; retrying", "status", r.status.String(), "retry_in", wait.String())
			if !sleep(ctx, wait) {
				return fmt.Errorf("SMPP route %q throttled (%s) and the sender stopped waiting: %w", l.cfg.Name, r.status, context.Cause(ctx))
			}
			continue
		case r.status != data.ESME_ROK:
			return fmt.Errorf("the SMSC of route %q refused submit_sm with %s (0x%08X: %s)", l.cfg.Name, r.status.String(), int32(r.status), r.status.Desc())
		}
		return nil
	}
}

// wireAddr is an E.164 number as SMPP carries it: no "+", TON
// international, NPI E.164.
func wireAddr(number string) pdu.Address {
	a := pdu.NewAddressWithTonNpi(data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164)
	_ = a.SetAddress(strings.TrimPrefix(number, "+"))
	return a
}

// e164 reads an SMPP address as an E.164 number. TON international and
// unknown carry the digits of one (an "00" international prefix is taken
// off under unknown). Numbers in national or another form cannot be turned
// into E.164 without knowing the operator's country: a sender's would get
// replies sent to a wrong number, so strict refuses them; for our own
// numbers (the destination) they are kept as written, and match a bound
// number or not.
func e164(a pdu.Address, strict bool) (string, error) {
	s := strings.TrimSpace(a.Address())
	switch ton := a.Ton(); ton {
	case data.GSM_TON_INTERNATIONAL, data.GSM_TON_UNKNOWN:
		s = strings.TrimPrefix(s, "+")
		if ton == data.GSM_TON_UNKNOWN && strings.HasPrefix(s, "00") {
			s = s[2:]
		}
		if strict && strings.HasPrefix(s, "0") {
			return "", fmt.Errorf("%q (TON %d) is a national number, not E.164: have the SMSC send international numbers (TON 1)", a.Address(), ton)
		}
	default:
		if strict {
			return "", fmt.Errorf("%q has TON %d (not international): have the SMSC send international numbers (TON 1)", a.Address(), ton)
		}
	}
	return channels.Normalize(channels.SMS, s)
}

// incoming is a deliver_sm or data_sm, reduced to what the channel reads.
type incoming struct {
	src, dst    string
	esm         byte
	coding      byte
	codingKnown bool
	data        []byte
	udh         pdu.UDH
	tlv         map[pdu.Tag]pdu.Field
	kind        string
	// srcErr and dstErr say why src or dst (then as written) is not an
	// E.164 number.
	srcErr, dstErr error
}

func (l *link) onDeliver(p *pdu.DeliverSM) data.CommandStatusType {
	in := incoming{kind: "deliver_sm", esm: p.EsmClass, udh: p.Message.UDH(), tlv: p.OptionalParameters}
	in.setAddrs(p.SourceAddr, p.DestAddr)
	in.data, _ = p.Message.GetMessageData()
	if enc := p.Message.Encoding(); enc != nil {
		in.coding, in.codingKnown = enc.DataCoding(), true
	}
	if len(in.data) == 0 {
		if f, ok := p.OptionalParameters[pdu.TagMessagePayload]; ok {
			in.data = f.Data
			in.udh = nil
			in.splitUDH()
		}
	}
	return l.c.onIncoming(l, in)
}

func (l *link) onDataSM(p *pdu.DataSM) data.CommandStatusType {
	in := incoming{kind: "data_sm", esm: p.EsmClass, coding: p.DataCoding, codingKnown: true, tlv: p.OptionalParameters}
	in.setAddrs(p.SourceAddr, p.DestAddr)
	if f, ok := p.OptionalParameters[pdu.TagMessagePayload]; ok {
		in.data = f.Data
	}
	in.splitUDH()
	return l.c.onIncoming(l, in)
}

// setAddrs reads the source and destination as E.164 (see e164).
func (in *incoming) setAddrs(src, dst pdu.Address) {
	in.src, in.srcErr = e164(src, true)
	if in.srcErr != nil {
		in.src = src.Address()
	}
	in.dst, in.dstErr = e164(dst, false)
	if in.dstErr != nil {
		in.dst = dst.Address()
	}
}

// splitUDH takes the UDH off a payload that carries one (message_payload
// is not parsed by gosmpp).
func (in *incoming) splitUDH() {
	if in.esm&data.SM_UDH_GSM == 0 || len(in.data) == 0 {
		return
	}
	var u pdu.UDH
	n, err := u.UnmarshalBinary(in.data)
	if err != nil || n > len(in.data) {
		return
	}
	in.udh, in.data = u, in.data[n:]
}

// concat returns the concatenation reference, part count and part number
// of in, from its UDH (8- or 16-bit reference) or the sar_* TLVs.
func (in *incoming) concat() (ref uint16, total, seq byte, ok bool) {
	for _, ie := range in.udh {
		switch {
		case ie.ID == 0x00 && len(ie.Data) == 3:
			ref, total, seq = uint16(ie.Data[0]), ie.Data[1], ie.Data[2]
			return ref, total, seq, total > 1 && seq >= 1 && seq <= total
		case ie.ID == 0x08 && len(ie.Data) == 4:
			ref, total, seq = uint16(ie.Data[0])<<8|uint16(ie.Data[1]), ie.Data[2], ie.Data[3]
			return ref, total, seq, total > 1 && seq >= 1 && seq <= total
		}
	}
	r, okR := in.tlv[pdu.TagSarMsgRefNum]
	t, okT := in.tlv[pdu.TagSarTotalSegments]
	s, okS := in.tlv[pdu.TagSarSegmentSeqnum]
	if okR && okT && okS && len(r.Data) == 2 && len(t.Data) == 1 && len(s.Data) == 1 {
		ref, total, seq = uint16(r.Data[0])<<8|uint16(r.Data[1]), t.Data[0], s.Data[0]
		return ref, total, seq, total > 1 && seq >= 1 && seq <= total
	}
	return 0, 0, 0, false
}
