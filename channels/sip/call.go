package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/chorus-dev/chorus/channels"
)

// call is one voice call, inbound (ds) or outbound (dc). It implements
// channels.Call; its methods run on the handler's goroutine except
// Context, end and digit.
type call struct {
	ch   *Channel
	info channels.Info

	ctx    context.Context
	cancel context.CancelCauseFunc

	ds *sipgo.DialogServerSession // inbound
	dc *sipgo.DialogClientSession // outbound

	media  *media
	offer  sdpInfo // the far end's latest SDP
	pt     int
	sessID uint64
	sdpVer atomic.Uint64
	dir    string // our current direction in SDP

	// lateOffer: the INVITE had no SDP; our 200 carries the offer and
	// the ACK the answer (RFC 3261 13.2.1), handed over on ackSDP.
	lateOffer bool
	ackSDP    chan []byte

	answered atomic.Bool
	final    atomic.Bool // a final response was sent (inbound)
	mu       sync.Mutex  // guards answering, sdp state
	digits   chan rune
	held     []rune // digits that stopped a prompt, kept for Collect

	referMu sync.Mutex
	referCh chan int // NOTIFY sipfrag status codes during a REFER
}

// maxQueuedDigits bounds the digits waiting for Collect.
const maxQueuedDigits = 64

func (c *Channel) newCall(info channels.Info) *call {
	ctx, cancel := context.WithCancelCause(c.base)
	return &call{
		ch:     c,
		info:   info,
		ctx:    ctx,
		cancel: cancel,
		digits: make(chan rune, maxQueuedDigits),
		sessID: rand.Uint64() >> 2,
		dir:    "sendrecv",
	}
}

// Info describes the call.
func (k *call) Info() channels.Info { return k.info }

// Context ends when the call does (context.Cause says why).
func (k *call) Context() context.Context { return k.ctx }

// end cancels the call's context (the handler's verbs return).
func (k *call) end(cause error) { k.cancel(cause) }

// digit queues a key from RTP or INFO (the oldest is dropped when full).
func (k *call) digit(d rune) {
	for {
		select {
		case k.digits <- d:
			return
		default:
		}
		select {
		case <-k.digits:
		default:
		}
	}
}

// Answered reports whether the call was answered.
func (k *call) Answered() bool { return k.answered.Load() }

// sdp is our current SDP.
func (k *call) sdp() []byte {
	codecs := []int{k.pt}
	return buildSDP(k.sessID, k.sdpVer.Load(), k.ch.ip, int(k.media.local.Port()), codecs, k.offer.dtmfPT, k.dir)
}

// Answer sends 200 OK with our SDP and waits for the ACK.
func (k *call) Answer(ctx context.Context) error {
	if k.ds == nil || k.answered.Load() {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.answered.Load() {
		return nil
	}
	if err := context.Cause(k.ctx); err != nil {
		return fmt.Errorf("sip: answer: %w", hangupErr(err))
	}
	if k.final.Load() {
		return errors.New("sip: answer: the call was already rejected")
	}
	var body []byte
	if k.lateOffer {
		k.dir = "sendrecv"
		body = buildSDP(k.sessID, k.sdpVer.Load(), k.ch.ip, int(k.media.local.Port()), []int{ptPCMU, ptPCMA}, lateOfferDTMF, k.dir)
	} else {
		k.dir = answerDirection(k.offer.direction)
		k.media.setRemote(k.offer, k.pt)
		body = k.sdp()
	}
	res := sip.NewSDPResponseFromRequest(k.ds.InviteRequest, body)
	res.AppendHeader(sip.NewHeader("Allow", allow))
	k.final.Store(true)
	k.answered.Store(true)
	k.media.start()
	if err := k.ds.WriteResponse(res); err != nil {
		k.answered.Store(false)
		k.end(channels.ErrHangup)
		return fmt.Errorf("sip: answering the call failed (no ACK or the caller left): %w", err)
	}
	if k.lateOffer {
		return k.takeAckAnswer()
	}
	return nil
}

// lateOfferDTMF is the telephone-event payload type of our offer in a
// 200 OK to an INVITE without SDP.
const lateOfferDTMF = 101

// takeAckAnswer applies the SDP answer the ACK carried (late offer). An
// ACK without a usable answer ends the call (RFC 3261 13.3.1.4: the UAS
// then hangs up with BYE).
func (k *call) takeAckAnswer() error {
	var body []byte
	select {
	case body = <-k.ackSDP:
	default:
	}
	ans, err := parseSDP(body)
	if err == nil && len(body) == 0 {
		err = errors.New("the ACK carried no SDP answer")
	}
	pt, ok := 0, false
	if err == nil {
		pt, ok = chooseCodec(ans)
		if !ok {
			err = errors.New("the SDP answer in the ACK has neither PCMU nor PCMA")
		}
	}
	if err != nil {
		k.ch.log.Info("sip: late-offer call without a usable answer; hanging up", "session", k.info.ID, "err", err)
		k.end(errNoAnswer)
		return fmt.Errorf("sip: answer: %w: %w", err, channels.ErrHangup)
	}
	k.lateOffer = false
	k.offer, k.pt = ans, pt
	k.dir = answerDirection(ans.direction)
	k.media.setRemote(ans, pt)
	return nil
}

var errNoAnswer = errors.New("no usable SDP answer in the ACK")

// hangupErr maps a cancelled call's cause to the channels errors.
func hangupErr(cause error) error {
	switch {
	case errors.Is(cause, channels.ErrShutdown):
		return cause
	case errors.Is(cause, errRTPTimeout):
		return fmt.Errorf("%w: %w", channels.ErrHangup, cause)
	}
	return channels.ErrHangup
}

var errRTPTimeout = errors.New("no RTP from the far end for too long")

// ready answers the call if needed and checks it is still up.
func (k *call) ready(ctx context.Context) error {
	if err := context.Cause(k.ctx); err != nil {
		return hangupErr(err)
	}
	if !k.answered.Load() {
		if err := k.Answer(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Send on a call speaks the text.
func (k *call) Send(ctx context.Context, text string) error {
	return k.Play(ctx, text, channels.PlayOptions{})
}

// Receive collects keys as a message: up to a "#" or 3 s after the last key.
func (k *call) Receive(ctx context.Context, d time.Duration) (channels.Message, error) {
	in, err := k.Collect(ctx, channels.CollectOptions{Timeout: d, InterDigit: 3 * time.Second, Terminator: "#", Mode: "dtmf"})
	if err != nil {
		return channels.Message{}, err
	}
	return channels.Message{From: k.info.Remote, To: k.info.Local, Text: in.Text, At: time.Now()}, nil
}

// Play speaks text or plays an http(s) WAV URL. With BargeIn a key stops
// it; the key stays for the next Collect.
func (k *call) Play(ctx context.Context, text string, opts channels.PlayOptions) error {
	if err := k.ready(ctx); err != nil {
		return err
	}
	pcm, err := k.ch.audio(ctx, text, opts.Voice)
	if err != nil {
		return err
	}
	if opts.BargeIn && len(k.held) > 0 {
		return nil // a key pressed before the prompt already barged in
	}
	ctx, stop := k.merge(ctx)
	defer stop()
	var interrupt chan struct{}
	var wg sync.WaitGroup
	if opts.BargeIn {
		interrupt = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case d := <-k.digits:
				k.held = append(k.held, d) // Play waits for wg before returning
				close(interrupt)
			case <-ctx.Done():
			}
		}()
	}
	_, err = k.media.play(ctx, pcm, interrupt)
	stop()
	wg.Wait()
	if err != nil {
		if cause := context.Cause(k.ctx); cause != nil {
			return hangupErr(cause)
		}
		if errors.Is(err, errMediaClosed) {
			return channels.ErrHangup
		}
		return err
	}
	return nil
}

// merge returns a context ending with ctx or the call.
func (k *call) merge(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(k.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// errNoRecognizer is returned for speech input.
var errNoRecognizer = errors.New("sip: speech recognition is not configured; use mode \"dtmf\"")

// Collect gathers keys: it waits opts.Timeout for the first, then
// opts.InterDigit between keys, and stops at MaxDigits or the terminator
// (which is not returned).
func (k *call) Collect(ctx context.Context, opts channels.CollectOptions) (channels.Input, error) {
	if opts.Mode == "speech" {
		return channels.Input{}, errNoRecognizer
	}
	if err := k.ready(ctx); err != nil {
		return channels.Input{}, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.InterDigit <= 0 {
		opts.InterDigit = 5 * time.Second
	}
	var got []rune
	timer := time.NewTimer(opts.Timeout)
	defer timer.Stop()
	// add reports whether collecting is complete.
	add := func(d rune) bool {
		if opts.Terminator != "" && strings.ContainsRune(opts.Terminator, d) {
			return true
		}
		got = append(got, d)
		return opts.MaxDigits > 0 && len(got) >= opts.MaxDigits
	}
	result := func() (channels.Input, error) {
		return channels.Input{Text: string(got), Kind: "dtmf", Confidence: 1}, nil
	}
	for len(k.held) > 0 {
		d := k.held[0]
		k.held = k.held[1:]
		if add(d) {
			return result()
		}
	}
	if len(got) > 0 {
		timer.Reset(opts.InterDigit)
	}
	for {
		select {
		case d := <-k.digits:
			if add(d) {
				return result()
			}
			timer.Reset(opts.InterDigit)
		case <-timer.C:
			if len(got) == 0 {
				return channels.Input{}, channels.ErrTimeout
			}
			return result()
		case <-k.ctx.Done():
			return channels.Input{}, hangupErr(context.Cause(k.ctx))
		case <-ctx.Done():
			if cause := context.Cause(k.ctx); cause != nil {
				return channels.Input{}, hangupErr(cause)
			}
			return channels.Input{}, ctx.Err()
		}
	}
}

// Reject refuses an unanswered call with code (486 busy, 603 decline...).
func (k *call) Reject(ctx context.Context, code int) error {
	if k.ds == nil {
		return errors.New("sip: reject: only incoming calls can be rejected")
	}
	if k.answered.Load() {
		return errors.New("sip: reject: the call is already answered")
	}
	if code < 400 || code > 699 {
		code = 603
	}
	return k.final2(code, "", nil)
}

// final2 sends a final non-2xx response to the INVITE.
func (k *call) final2(code int, reason string, hdrs []sip.Header) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.final.Load() {
		return nil
	}
	k.final.Store(true)
	if reason == "" {
		reason = statusText(code)
	}
	res := sip.NewResponseFromRequest(k.ds.InviteRequest, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	err := k.ds.WriteResponse(res)
	k.end(errRejected)
	if err != nil && context.Cause(k.ctx) != errRejected {
		return fmt.Errorf("sip: sending %d: %w", code, err)
	}
	return nil
}

var errRejected = errors.New("call rejected by the app")

// Redirect answers an unanswered call with 302 to target.
func (k *call) Redirect(ctx context.Context, to string) error {
	if k.ds == nil {
		return errors.New("sip: redirect: only incoming calls can be redirected")
	}
	if k.answered.Load() {
		return errors.New("sip: redirect: the call is already answered")
	}
	uri, err := k.ch.targetURI(to)
	if err != nil {
		return fmt.Errorf("sip: redirect: %w", err)
	}
	return k.final2(302, "Moved Temporarily", []sip.Header{&sip.ContactHeader{Address: uri}})
}

// targetURI turns a transfer/redirect target into a SIP URI: sip:/sips:
// URIs as given, tel: and bare numbers at our domain.
func (c *Channel) targetURI(to string) (sip.Uri, error) {
	to = strings.TrimSpace(to)
	lower := strings.ToLower(to)
	switch {
	case strings.HasPrefix(lower, "sip:") || strings.HasPrefix(lower, "sips:"):
	case strings.HasPrefix(lower, "tel:"):
		n, err := channels.NormalizeNumber(to[4:])
		if err != nil {
			return sip.Uri{}, err
		}
		to = "sip:" + n + "@" + c.cfg.Domain
	default:
		if n, err := channels.NormalizeNumber(to); err == nil {
			to = "sip:" + n + "@" + c.cfg.Domain
		} else {
			to = "sip:" + to
		}
	}
	var u sip.Uri
	if err := sip.ParseUri(to, &u); err != nil || u.Host == "" {
		return sip.Uri{}, fmt.Errorf("%q is not a SIP URI (want sip:user@host)", to)
	}
	return u, nil
}

// Hangup ends the call: BYE when answered, 603 before.
func (k *call) Hangup(ctx context.Context) error {
	if k.ds != nil && !k.answered.Load() {
		return k.final2(603, "Decline", nil)
	}
	k.end(errHungUp) // before the BYE ends the dialog (cause ErrHangup)
	return k.bye(ctx)
}

var errHungUp = errors.New("the app hung up")

// bye sends BYE once (bounded by 5 s).
func (k *call) bye(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if k.ds != nil {
		if k.ds.LoadState() == sip.DialogStateEnded {
			return nil
		}
		// As ds.Bye, but sent from our listening socket: sipgo's dialog
		// requests leave Laddr unset and may open a new socket whose
		// response then goes astray.
		req := k.ds.InviteRequest
		bye := sip.NewRequest(sip.BYE, req.Contact().Address)
		bye.SetTransport(req.Transport())
		k.ch.pin(bye)
		err = k.ds.WriteBye(ctx, bye)
	} else if k.dc != nil {
		if k.dc.LoadState() == sip.DialogStateEnded {
			return nil
		}
		err = k.dc.Bye(ctx)
	}
	if err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// Close hangs up an outbound call (channels.Closer).
func (k *call) Close() {
	_ = k.Hangup(context.Background())
	k.finish()
}

// finish releases the media and forgets the call.
func (k *call) finish() {
	k.end(channels.ErrHangup)
	if k.media != nil {
		k.media.close()
	}
	k.ch.mu.Lock()
	for id, v := range k.ch.calls {
		if v == k {
			delete(k.ch.calls, id)
		}
	}
	k.ch.mu.Unlock()
}

// onInvite handles an INVITE: a new call, or a re-INVITE of a live one.
func (c *Channel) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if req.To() != nil {
		if _, ok := req.To().Params.Get("tag"); ok {
			c.onReInvite(req, tx)
			return
		}
	}
	if c.isClosed() {
		respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	local, err := c.localAddress(context.Background(), req.Recipient)
	if err != nil {
		c.failLookup(req, tx, err)
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(h.Value())
	}
	// No body: a late offer (RFC 3261 13.2.1): our 200 offers, the ACK answers.
	late := len(req.Body()) == 0
	if !late && !strings.HasPrefix(ct, "application/sdp") {
		respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
		return
	}
	offer, pt := sdpInfo{dtmfPT: -1, direction: "sendrecv"}, ptPCMU
	if !late {
		offer, err = parseSDP(req.Body())
		if err != nil {
			respond(tx, req, 488, "Not Acceptable Here", sip.NewHeader("Warning", `399 chorus "`+strings.ReplaceAll(err.Error(), `"`, "'")+`"`))
			return
		}
		var ok bool
		if pt, ok = chooseCodec(offer); !ok {
			respond(tx, req, 488, "Not Acceptable Here", sip.NewHeader("Warning", `305 chorus "only PCMU and PCMA are supported"`))
			return
		}
	}
	conn, err := listenRTP(c.ip, c.cfg.RTPPorts)
	if err != nil {
		c.log.Error("sip: no RTP port for a call", "err", err)
		respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}
	ua := sipgo.DialogUA{Client: c.client(req.Transport()), ContactHDR: c.contact(c.userOf(local), req.Transport()), RewriteContact: overConnection(req.Transport())}
	ds, err := ua.ReadInvite(req, tx)
	if err != nil {
		conn.Close()
		c.log.Info("sip: INVITE refused", "err", err)
		respond(tx, req, 400, "Bad Request")
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil))

	remote, name, ruri := remoteAddress(req)
	k := c.newCall(channels.Info{
		ID:         c.cfg.NewID(),
		Local:      local,
		Remote:     remote,
		RemoteName: name,
		RemoteURI:  ruri,
		LocalURI:   req.Recipient.String(),
		Headers:    headersOf(req),
		Voice:      true,
	})
	k.ds = ds
	k.offer = offer
	k.pt = pt
	k.lateOffer = late
	k.ackSDP = make(chan []byte, 1)
	k.media = newMedia(conn, c.pacer, c.log)
	k.media.onDigit = k.digit
	k.media.timeout = c.cfg.RTPTimeout
	k.media.latch = c.cfg.RTPLatch
	k.media.onTimeout = func() {
		c.log.Info("sip: no RTP from the far end; hanging up", "session", k.info.ID, "timeout", c.cfg.RTPTimeout)
		k.end(errRTPTimeout)
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.Close()
		respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	c.calls[ds.ID] = k
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	// CANCEL or BYE ends the dialog's context: end the call at once.
	stopWatch := context.AfterFunc(ds.Context(), func() {
		if errors.Is(context.Cause(ds.Context()), sip.ErrTransactionCanceled) {
			k.end(errCanceled)
			return
		}
		k.end(channels.ErrHangup)
	})
	defer stopWatch()
	c.log.Info("sip: call", "session", k.info.ID, "from", remote.ID, "to", local.ID, "call_id", callID(req))
	c.serve(k)
}

var errCanceled = errors.New("the caller cancelled the call before it was answered")

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// userOf is the user part of an address for our Contact.
func (c *Channel) userOf(a channels.Address) string { return channels.SIPUser(a.ID) }

// serve runs the handler on k and cleans up after it.
func (c *Channel) serve(k *call) {
	defer k.finish()
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.log.Error("sip: the call handler panicked", "session", k.info.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if k.answered.Load() && context.Cause(k.ctx) == nil && c.cfg.TTS != nil {
					ctx, cancel := context.WithTimeout(k.ctx, 10*time.Second)
					_ = k.Play(ctx, "Sorry, something went wrong. Goodbye.", channels.PlayOptions{})
					cancel()
				}
			}
		}()
		c.cfg.Handler.ServeConversation(k)
	}()
	switch {
	case !k.answered.Load():
		if errors.Is(context.Cause(k.ctx), errCanceled) {
			return // 487 went out with the CANCEL
		}
		if errors.Is(context.Cause(k.ctx), channels.ErrShutdown) {
			_ = k.final2(503, "Service Unavailable", []sip.Header{sip.NewHeader("Retry-After", "30")})
			return
		}
		_ = k.final2(480, "Temporarily Unavailable", nil)
	case k.ds.LoadState() != sip.DialogStateEnded:
		if err := k.bye(context.Background()); err != nil {
			c.log.Info("sip: BYE after the app ended failed", "session", k.info.ID, "err", err)
		}
	}
}

// onReInvite answers a re-INVITE (hold, resume, new address) on a live call.
func (c *Channel) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	k := c.lookupCall(req)
	if k == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if !k.answered.Load() {
		respond(tx, req, 491, "Request Pending")
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(req.Body()) > 0 {
		offer, err := parseSDP(req.Body())
		if err != nil {
			respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		pt, ok := chooseCodec(offer)
		if !ok {
			respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		if offer.dtmfPT < 0 {
			offer.dtmfPT = k.offer.dtmfPT
		}
		k.offer, k.pt = offer, pt
		k.dir = answerDirection(offer.direction)
		k.media.setRemote(offer, pt)
		k.sdpVer.Add(1)
	}
	res := sip.NewSDPResponseFromRequest(req, k.sdp())
	h := k.ch.contact(k.ch.userOf(k.info.Local), req.Transport())
	res.AppendHeader(&h)
	_ = tx.Respond(res)
	c.log.Debug("sip: re-INVITE", "session", k.info.ID, "direction", k.offer.direction)
}

// notify takes a NOTIFY of a REFER we sent.
func (k *call) notify(req *sip.Request) {
	k.referMu.Lock()
	ch := k.referCh
	k.referMu.Unlock()
	if ch == nil {
		return
	}
	body := string(req.Body())
	// message/sipfrag: "SIP/2.0 200 OK"
	var code int
	if _, err := fmt.Sscanf(body, "SIP/2.0 %d", &code); err == nil {
		select {
		case ch <- code:
		default:
		}
	}
}

// Dial places an outbound call from our address from to the SIP URI to.
// The call is answered when Dial returns; the caller closes it.
func (c *Channel) Dial(ctx context.Context, from, to string, opts channels.DialOptions) (channels.Conversation, error) {
	if c.isClosed() {
		return nil, channels.ErrUnavailable
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	local, err := channels.Normalize(channels.SIP, from)
	if err != nil || !strings.HasPrefix(local, "sip:") {
		if err == nil && channels.IsNumber(local) {
			local = "sip:" + local + "@" + c.cfg.Domain
		} else {
			return nil, fmt.Errorf("sip: dial from %q: want our sip address (sip:app@%s): %w", from, c.cfg.Domain, channels.ErrNoRoute)
		}
	}
	uri, err := c.targetURI(to)
	if err != nil {
		return nil, fmt.Errorf("sip: dial: %w", err)
	}
	remoteID, err := channels.Normalize(channels.SIP, "sip:"+uri.User+"@"+uri.Host)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %q: %w", to, err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	conn, err := listenRTP(c.ip, c.cfg.RTPPorts)
	if err != nil {
		return nil, fmt.Errorf("sip: dial: %w", err)
	}
	id := opts.SessionID
	if id == "" {
		id = c.cfg.NewID()
	}
	k := c.newCall(channels.Info{
		ID:        id,
		Local:     channels.Address{Network: channels.SIP, ID: local},
		Remote:    channels.Address{Network: channels.SIP, ID: remoteID},
		RemoteURI: uri.String(),
		LocalURI:  local,
		Headers:   map[string]string{},
		Voice:     true,
	})
	k.media = newMedia(conn, c.pacer, c.log)
	k.media.onDigit = k.digit
	k.media.timeout = c.cfg.RTPTimeout
	k.media.latch = c.cfg.RTPLatch
	k.media.onTimeout = func() { k.end(errRTPTimeout); _ = k.bye(context.Background()) }
	k.pt = ptPCMU
	offer := buildSDP(k.sessID, 0, c.ip, int(k.media.local.Port()), []int{ptPCMU, ptPCMA}, 101, "sendrecv")

	transport := "udp"
	if tr, _ := uri.UriParams.Get("transport"); strings.EqualFold(tr, "tcp") {
		transport = "tcp"
	}
	user := channels.SIPUser(local)
	fromHdr := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: c.cfg.Domain}, Params: sip.NewParams()}
	fromHdr.Params.Add("tag", sip.GenerateTagN(16))
	hdrs := []sip.Header{fromHdr, sip.NewHeader("Content-Type", "application/sdp"), sip.NewHeader("Allow", allow)}
	for name, v := range opts.Headers {
		if safeHeader(name) {
			hdrs = append(hdrs, sip.NewHeader(name, v))
		}
	}
	ua := sipgo.DialogUA{Client: c.client(transport), ContactHDR: c.contact(user, transport)}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(strings.ToUpper(transport))
	req.SetBody(offer)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	dc, err := ua.WriteInvite(dctx, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sip: dial %s: %w", uri.String(), err)
	}
	if err := dc.WaitAnswer(dctx, sipgo.AnswerOptions{}); err != nil {
		conn.Close()
		var re *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &re):
			return nil, fmt.Errorf("sip: %s answered %d %s: %w", uri.String(), re.Res.StatusCode, re.Res.Reason, channels.ErrNoRoute)
		case dctx.Err() != nil && ctx.Err() == nil:
			return nil, fmt.Errorf("sip: %s did not answer within %s: %w", uri.String(), timeout, channels.ErrTimeout)
		}
		return nil, fmt.Errorf("sip: dial %s: %w", uri.String(), err)
	}
	k.dc = dc
	ans, err := parseSDP(dc.InviteResponse.Body())
	if err == nil {
		if pt, ok := chooseCodec(ans); ok {
			k.pt = pt
		}
		k.offer = ans
	}
	if err := dc.Ack(context.WithoutCancel(ctx)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sip: ACK to %s: %w", uri.String(), err)
	}
	if err != nil { // answer without usable SDP
		_ = dc.Bye(context.WithoutCancel(ctx))
		conn.Close()
		return nil, fmt.Errorf("sip: %s answered without a usable SDP: %w", uri.String(), err)
	}
	k.answered.Store(true)
	k.final.Store(true)
	k.media.setRemote(ans, k.pt)
	k.media.start()
	c.mu.Lock()
	c.calls[dc.ID] = k
	c.mu.Unlock()
	context.AfterFunc(dc.Context(), func() { k.end(channels.ErrHangup) })
	return k, nil
}

// safeHeader reports whether an app may set a header on our requests.
func safeHeader(name string) bool {
	switch strings.ToLower(name) {
	case "via", "from", "to", "call-id", "cseq", "contact", "content-length", "content-type", "max-forwards", "route", "record-route":
		return false
	}
	return name != "" && !strings.ContainsAny(name, " :\r\n")
}
