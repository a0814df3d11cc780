package sip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
)

// Recording limits and the level that counts as voice.
const (
	maxRecordTime = 10 * time.Minute
	voiceRMS      = 300.0 // of s16 samples: well above line noise, below speech
)

// beep is 300 ms of a 1 kHz tone, 8 kHz s16le.
var beep = func() []byte {
	n := 8000 * 3 / 10
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(8000*math.Sin(2*math.Pi*1000*float64(i)/8000))))
	}
	return b
}()

// Record beeps, then records the caller until opts.SilenceTimeout of
// silence after speech, a terminator key, or opts.MaxTime; no speech for
// opts.Timeout is ErrTimeout. The WAV goes to Config.SaveRecording.
func (k *call) Record(ctx context.Context, opts channels.RecordOptions) (channels.Recording, error) {
	if k.ch.cfg.SaveRecording == nil {
		return channels.Recording{}, errors.New("sip: recording is not configured (no place to store recordings)")
	}
	if err := k.ready(ctx); err != nil {
		return channels.Recording{}, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.SilenceTimeout <= 0 {
		opts.SilenceTimeout = 5 * time.Second
	}
	if opts.MaxTime <= 0 || opts.MaxTime > maxRecordTime {
		opts.MaxTime = min(maxRecordTime, max(opts.MaxTime, 60*time.Second))
	}
	if opts.Beep {
		ctx, stop := k.merge(ctx)
		_, err := k.media.play(ctx, beep, nil)
		stop()
		if err != nil {
			if cause := context.Cause(k.ctx); cause != nil {
				return channels.Recording{}, hangupErr(cause)
			}
			return channels.Recording{}, err
		}
	}
	k.held = nil // keys before the beep do not end the recording
	var mu sync.Mutex
	var pcm []byte
	voiced := false
	var lastVoice time.Time
	limit := int(opts.MaxTime/frameDur) * frameBytes
	start := time.Now()
	// pad keeps the recording on the wall clock: time without packets (a
	// phone that stops sending in silence, lost packets) is silence.
	pad := func(now time.Time, slack int) {
		want := min(limit, int(now.Sub(start)/frameDur)*frameBytes-slack)
		if n := want - len(pcm); n > 0 {
			pcm = append(pcm, make([]byte, n)...)
		}
	}
	k.media.setRecorder(func(p []byte) {
		mu.Lock()
		defer mu.Unlock()
		pad(time.Now(), 3*frameBytes)
		if len(pcm)+len(p) <= limit {
			pcm = append(pcm, p...)
		}
		if rms(p) > voiceRMS {
			voiced, lastVoice = true, time.Now()
		}
	})
	defer k.media.setRecorder(nil)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var why string
loop:
	for {
		select {
		case d := <-k.digits:
			if strings.ContainsRune(opts.Terminator, d) {
				why = "terminator"
				break loop
			}
		case now := <-tick.C:
			mu.Lock()
			v, lv := voiced, lastVoice
			mu.Unlock()
			switch {
			case now.Sub(start) >= opts.MaxTime:
				why = "maxTime"
				break loop
			case !v && now.Sub(start) >= opts.Timeout:
				return channels.Recording{}, channels.ErrTimeout
			case v && now.Sub(lv) >= opts.SilenceTimeout:
				why = "silence"
				break loop
			}
		case <-k.ctx.Done():
			return channels.Recording{}, hangupErr(context.Cause(k.ctx))
		case <-ctx.Done():
			return channels.Recording{}, ctx.Err()
		}
	}
	k.media.setRecorder(nil)
	mu.Lock()
	pad(time.Now(), 0)
	data := pcm
	mu.Unlock()
	dur := time.Duration(len(data)/2) * time.Second / 8000
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	uri, err := k.ch.cfg.SaveRecording(sctx, k.info.ID, wav8k(data))
	if err != nil {
		return channels.Recording{}, fmt.Errorf("sip: storing the recording: %w", err)
	}
	k.ch.log.Debug("sip: recorded", "session", k.info.ID, "duration", dur, "ended_by", why)
	return channels.Recording{URI: uri, Duration: dur}, nil
}

func rms(p []byte) float64 {
	if len(p) < 2 {
		return 0
	}
	var sum float64
	for i := 0; i+1 < len(p); i += 2 {
		v := float64(int16(binary.LittleEndian.Uint16(p[i:])))
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(p)/2))
}

// wav8k wraps 8 kHz mono s16le PCM in a RIFF/WAVE header.
func wav8k(pcm []byte) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + len(pcm)))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))    // PCM
	w(uint16(1))    // mono
	w(uint32(8000)) // rate
	w(uint32(16000))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(len(pcm)))
	b.Write(pcm)
	return b.Bytes()
}
