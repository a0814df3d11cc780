package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/chorus-dev/chorus/channels"
)

// Transfer hands the call to to: by REFER when the caller said it accepts
// REFER (its INVITE's Allow), else (or when the REFER fails) by calling to
// and bridging the two legs through the channel. With REFER the call ends
// once the far end reports the new call answered (the caller is gone). A
// bridge returns when the target hangs up (the caller stays with the app)
// or ErrHangup when the caller does.
func (k *call) Transfer(ctx context.Context, to string, opts channels.TransferOptions) error {
	if err := k.ready(ctx); err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	target, err := k.ch.targetURI(to)
	if err != nil {
		return fmt.Errorf("sip: transfer: %w", err)
	}
	if k.acceptsRefer() {
		err := k.refer(ctx, target, opts.Timeout)
		if err == nil {
			k.end(errTransferred) // before the BYE ends the dialog (cause ErrHangup)
			_ = k.bye(ctx)
			return nil
		}
		if cause := context.Cause(k.ctx); cause != nil {
			return hangupErr(cause)
		}
		k.ch.log.Info("sip: REFER failed; bridging instead", "session", k.info.ID, "to", target.String(), "err", err)
	}
	return k.bridge(ctx, target, opts)
}

var errTransferred = errors.New("the call was transferred")

// acceptsRefer: the caller listed REFER in Allow.
func (k *call) acceptsRefer() bool {
	if k.ds == nil {
		return false
	}
	for _, h := range k.ds.InviteRequest.GetHeaders("Allow") {
		for _, m := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(m), "REFER") {
				return true
			}
		}
	}
	return false
}

// refer sends REFER and waits for the NOTIFY that reports the new call's
// final status.
func (k *call) refer(ctx context.Context, target sip.Uri, timeout time.Duration) error {
	ch := make(chan int, 8)
	k.referMu.Lock()
	k.referCh = ch
	k.referMu.Unlock()
	defer func() {
		k.referMu.Lock()
		k.referCh = nil
		k.referMu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, stop := k.merge(ctx)
	defer stop()
	cont := k.ds.InviteRequest.Contact()
	req := sip.NewRequest(sip.REFER, cont.Address)
	req.SetTransport(k.ds.InviteRequest.Transport())
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+target.String()+">"))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+k.info.Local.ID+">"))
	h := k.ch.contact(k.ch.userOf(k.info.Local), req.Transport())
	req.AppendHeader(&h)
	k.ch.pin(req)
	res, err := k.ds.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("REFER: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("REFER answered %d %s", res.StatusCode, res.Reason)
	}
	for {
		select {
		case code := <-ch:
			switch {
			case code >= 200 && code < 300:
				return nil
			case code >= 300:
				return fmt.Errorf("the transfer target answered %d", code)
			}
		case <-ctx.Done():
			return fmt.Errorf("no final NOTIFY for the REFER: %w", ctx.Err())
		}
	}
}

// bridge calls target and relays audio between the two legs until one
// hangs up.
func (k *call) bridge(ctx context.Context, target sip.Uri, opts channels.TransferOptions) error {
	from := k.info.Local.ID
	conv, err := k.ch.Dial(ctx, from, target.String(), channels.DialOptions{SessionID: k.info.ID, Timeout: opts.Timeout, Headers: opts.Headers})
	if err != nil {
		if cause := context.Cause(k.ctx); cause != nil {
			return hangupErr(cause)
		}
		return fmt.Errorf("sip: transfer to %s: %w", target.String(), err)
	}
	b := conv.(*call)
	toA, toB := &stream{}, &stream{}
	k.media.setSource(toA)
	b.media.setSource(toB)
	k.media.setRecorder(toB.write)
	b.media.setRecorder(toA.write)
	// Keys of the caller go to the target as they would on a direct call
	// is not done (no DTMF relay); they stay queued for the app.
	defer func() {
		k.media.setSource(nil)
		k.media.setRecorder(nil)
	}()
	select {
	case <-b.ctx.Done(): // the target hung up: the caller is back with the app
		b.finish()
		return nil
	case <-k.ctx.Done():
		b.Close()
		return hangupErr(context.Cause(k.ctx))
	case <-ctx.Done():
		b.Close()
		return ctx.Err()
	}
}
