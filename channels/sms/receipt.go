package sms

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// receipt is a parsed SMPP delivery receipt (SMPP 3.4 appendix B):
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text: ...
type receipt struct {
	ID, Stat, Err string
}

// receiptFields are the keys of the receipt body, in their usual order;
// "text" takes the rest of the line.
var receiptFields = []string{"id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text"}

// parseReceipt reads a receipt body. Keys are matched without regard to
// case and order; values end at the next space. ok is false when there is
// no id or no stat.
func parseReceipt(body string) (r receipt, ok bool) {
	if len(body) > 1024 {
		body = body[:1024]
	}
	lower := asciiLower(body) // same length as body: indexes carry over
	vals := map[string]string{}
	for _, k := range receiptFields {
		i := findKey(lower, k+":")
		if i < 0 {
			continue
		}
		v := body[i+len(k)+1:]
		if k != "text" {
			if j := strings.IndexByte(v, ' '); j >= 0 {
				v = v[:j]
			}
		}
		vals[k] = strings.TrimSpace(v)
	}
	r = receipt{ID: vals["id"], Stat: strings.ToUpper(vals["stat"]), Err: vals["err"]}
	return r, r.ID != "" && r.Stat != ""
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// findKey finds key at the start of s or after a space.
func findKey(s, key string) int {
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], key)
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || s[i-1] == ' ' {
			return i
		}
		off = i + 1
	}
	return -1
}

// messageStates maps the message_state TLV (SMPP 3.4 5.2.28) to the stat
// words of a receipt body.
var messageStates = map[byte]string{
	1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED",
	5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}

// final reports whether stat ends the message's life: intermediate
// notifications (ENROUTE, ACCEPTD) are not recorded.
func final(stat string) bool {
	switch stat {
	case "ENROUTE", "ACCEPTD", "ACCEPTED", "BUFFRED", "SCHEDULED":
		return false
	}
	return true
}

// receiptText is what the session's transcript shows.
func receiptText(stat, errCode string) string {
	if stat == "DELIVRD" || stat == "DELIVERED" {
		return "delivered"
	}
	if errCode == "" {
		return "failed: " + stat
	}
	return fmt.Sprintf("failed: %s (err %s)", stat, errCode)
}

// sentLog maps the ids the SMSC or provider gave our messages to the
// session that sent them, so a receipt finds its session. Ids are kept per
// route: two SMSCs number their messages independently, so the same id on
// two routes is two messages. It is bounded
// by size and age; a multi-part message is one outgoing entry shared by
// its parts' ids: it reports "delivered" once every part is, or the first
// failure.
type sentLog struct {
	max    int
	maxAge time.Duration

	mu    sync.Mutex
	ids   map[string]*outgoing
	order []sentID // insertion order, for eviction
	head  int
}

type sentID struct {
	id string
	at time.Time
}

type outgoing struct {
	session   string
	parts     int // ids still to hear "delivered" from; set before any receipt
	delivered int
	done      bool
}

func newSentLog(max int, maxAge time.Duration) *sentLog {
	return &sentLog{max: max, maxAge: maxAge, ids: map[string]*outgoing{}}
}

// add records that id, given by route, belongs to o.
func (l *sentLog) add(route, id string, o *outgoing) {
	if id == "" || o == nil || o.session == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	key := route + "\x00" + normID(id)
	if _, dup := l.ids[key]; !dup {
		l.order = append(l.order, sentID{key, now})
	}
	l.ids[key] = o
	for l.head < len(l.order) && (len(l.order)-l.head > l.max || now.Sub(l.order[l.head].at) > l.maxAge) {
		delete(l.ids, l.order[l.head].id)
		l.order[l.head] = sentID{}
		l.head++
	}
	if l.head > 1024 && l.head > len(l.order)/2 {
		l.order = append([]sentID(nil), l.order[l.head:]...)
		l.head = 0
	}
}

// len is the number of ids remembered.
func (l *sentLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// settle applies a receipt route sent for id. It returns the session and the text to
// record, or ok false when there is nothing (yet) to record: an unknown id,
// a message already settled, or delivered parts still waiting for others.
func (l *sentLog) settle(route, id, stat, errCode string) (session, text string, known, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.lookup(route, id)
	if o == nil {
		return "", "", false, false
	}
	if o.done || !final(stat) {
		return o.session, "", true, false
	}
	if stat == "DELIVRD" || stat == "DELIVERED" {
		o.delivered++
		if o.delivered < o.parts {
			return o.session, "", true, false
		}
	}
	o.done = true
	return o.session, receiptText(stat, errCode), true, true
}

// lookup finds route's id as given, or written in the other base: SMSCs
// often answer submit_sm with a hex id and put it in decimal in the
// receipt, or the other way round. l.mu is held.
func (l *sentLog) lookup(route, id string) *outgoing {
	key := normID(id)
	pre := route + "\x00"
	if o := l.ids[pre+key]; o != nil {
		return o
	}
	if n, err := strconv.ParseUint(key, 10, 64); err == nil {
		if o := l.ids[pre+strconv.FormatUint(n, 16)]; o != nil {
			return o
		}
	}
	if n, err := strconv.ParseUint(key, 16, 64); err == nil {
		if o := l.ids[pre+strconv.FormatUint(n, 10)]; o != nil {
			return o
		}
	}
	return nil
}

// normID compares ids without case and leading zeros.
func normID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	t := strings.TrimLeft(id, "0")
	if t == "" && id != "" {
		return "0"
	}
	return t
}
