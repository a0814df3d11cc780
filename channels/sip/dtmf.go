package sip

import (
	"strconv"
	"strings"
)

// dtmfEvents maps RFC 4733 event codes 0-15 to keys.
const dtmfEvents = "0123456789*#ABCD"

// dtmfDecoder turns RFC 4733 telephone-event packets into digits, once per
// event. An event is identified by its RTP timestamp and event code (RFC
// 4733 2.5.1.3: every packet of one event carries the event's start
// timestamp), so it accepts what stricter readers drop: a first packet with
// duration 0 (what sipp's dtmf_2833_*.pcap and some gateways send), events
// whose start packets were lost and only the end packets arrived, and the
// three retransmitted end packets (counted once). A replayed recording
// reuses timestamps: a marked start packet after an event with the same
// timestamp ended is a new key press.
type dtmfDecoder struct {
	recent [8]dtmfEvent // the last events seen
	n      int          // how many of recent are valid
	next   int
}

type dtmfEvent struct {
	ts    uint32
	code  byte
	ended bool
}

// feed returns the key of a telephone-event payload with RTP timestamp ts
// (marker: the packet's M bit) when it starts a new event.
func (d *dtmfDecoder) feed(ts uint32, marker bool, payload []byte) (rune, bool) {
	if len(payload) < 4 {
		return 0, false
	}
	code := payload[0]
	end := payload[1]&0x80 != 0
	if int(code) >= len(dtmfEvents) {
		return 0, false // flash hook, tones: not keys
	}
	for i := 0; i < d.n; i++ {
		e := &d.recent[i]
		if e.ts != ts || e.code != code {
			continue
		}
		if e.ended && !end && marker { // the same recording played again
			e.ended = false
			return rune(dtmfEvents[code]), true
		}
		e.ended = e.ended || end
		return 0, false
	}
	d.recent[d.next] = dtmfEvent{ts: ts, code: code, ended: end}
	d.next = (d.next + 1) % len(d.recent)
	if d.n < len(d.recent) {
		d.n++
	}
	return rune(dtmfEvents[code]), true
}

// infoDigit reads the key of a SIP INFO body: application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5"). Signal may be a
// key or an event number (10 = *, 11 = #).
func infoDigit(contentType string, body []byte) (rune, bool) {
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
	if len(body) > 1024 {
		return 0, false
	}
	switch ct {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				return keyOf(strings.TrimSpace(v))
			}
		}
	case "application/dtmf":
		return keyOf(strings.TrimSpace(string(body)))
	}
	return 0, false
}

func keyOf(s string) (rune, bool) {
	if len(s) == 1 {
		if i := strings.IndexByte(dtmfEvents, strings.ToUpper(s)[0]); i >= 0 {
			return rune(dtmfEvents[i]), true
		}
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(dtmfEvents) {
		return rune(dtmfEvents[n]), true
	}
	return 0, false
}

// dtmfPayload builds an RFC 4733 payload (for our own test peers and
// outbound DTMF).
func dtmfPayload(key rune, end bool, duration uint16) []byte {
	ev := strings.IndexRune(dtmfEvents, key)
	if ev < 0 {
		ev = 0
	}
	b := []byte{byte(ev), 10, byte(duration >> 8), byte(duration)}
	if end {
		b[1] |= 0x80
	}
	return b
}
