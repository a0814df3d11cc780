package smstest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMSC is a real SMSC (e2e/smsc.mjs on the npm smpp package) run by a test.
type SMSC struct {
	t         testing.TB // nil outside tests (Launch)
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	port      int
	close     func()
	closeOnce sync.Once

	wmu sync.Mutex // stdin writes

	mu      sync.Mutex
	events  map[string][]Event
	submits []Submit
	changed chan struct{}
	exited  bool
	stderr  strings.Builder
}

// Event is one line the SMSC printed: "event" names it, the rest are its
// fields as JSON decodes them.
type Event map[string]any

// Name is the event's name.
func (e Event) Name() string { s, _ := e["event"].(string); return s }

// Int reads a numeric field.
func (e Event) Int(k string) int { f, _ := e[k].(float64); return int(f) }

// String reads a string field.
func (e Event) String(k string) string { s, _ := e[k].(string); return s }

// Bool reads a boolean field.
func (e Event) Bool(k string) bool { b, _ := e[k].(bool); return b }

// Submit is one submit_sm the SMSC received.
type Submit struct {
	ID       string // the message_id the SMSC answered with
	From, To string // E.164
	Text     string // this part's text, decoded by the SMSC per data_coding
	Coding   int    // data_coding
	EsmClass int
	// RegisteredDelivery is the receipt request (1: receipts asked).
	RegisteredDelivery   int
	SourceTON, SourceNPI int
	DestTON, DestNPI     int
	// Ref, Part and Total come from the concatenation UDH (0 when none).
	Ref, Part, Total int
	At               time.Time // when the SMSC took it
}

// maxQueued bounds the events of one name kept for WaitEvent (later ones
// are dropped); long runs should take or clear them with Events.
const maxQueued = 100000

// RepoRoot walks up from the working directory to the directory holding
// go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = up
	}
}

// StartSMSC starts e2e/smsc.mjs with node, accepting binds from systemID
// with password, and stops it (by PID) when the test ends. It fails the
// test, saying what to install, when node or the npm smpp package is
// missing.
func StartSMSC(t testing.TB, systemID, password string) *SMSC {
	t.Helper()
	s, err := Launch(systemID, password)
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	t.Cleanup(s.Close)
	return s
}

// Launch is StartSMSC outside a test (make bench): the caller must Close
// the SMSC.
func Launch(systemID, password string) (*SMSC, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("smstest: %w", err)
	}
	e2e := filepath.Join(root, "e2e")
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("smstest: node is not installed (the SMSC runs on Node.js): apt-get install nodejs, then `make test-deps`")
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "smpp", "package.json")); err != nil {
		return nil, errors.New("smstest: e2e/node_modules/smpp is missing: run `make test-deps` (or `npm ci` in e2e/)")
	}
	cmd := exec.Command(node, "smsc.mjs", systemID, password)
	cmd.Dir = e2e
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &SMSC{cmd: cmd, stdin: stdin, events: map[string][]Event{}, changed: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &s.mu, b: &s.stderr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("smstest: starting node smsc.mjs: %w", err)
	}
	done := make(chan struct{})
	go func() { // owned by the SMSC: ends when node closes stdout
		defer close(done)
		s.read(stdout)
	}()
	s.close = func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ev, err := s.WaitEvent(ctx, "listening")
	if err != nil {
		err = fmt.Errorf("smstest: the SMSC did not start: %w; stderr: %s", err, s.Stderr())
		s.Close()
		return nil, err
	}
	s.port = ev.Int("port")
	return s, nil
}

// Close stops the SMSC (by PID) and waits for it.
func (s *SMSC) Close() {
	s.closeOnce.Do(s.close)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 64<<10 {
		w.b.Write(p)
	}
	return len(p), nil
}

// Stderr is what node printed on stderr so far.
func (s *SMSC) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

func (s *SMSC) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		s.mu.Lock()
		if ev.Name() == "submit" {
			s.submits = append(s.submits, toSubmit(ev))
		} else if q := s.events[ev.Name()]; len(q) < maxQueued {
			s.events[ev.Name()] = append(q, ev)
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.exited = true
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func toSubmit(ev Event) Submit {
	sub := Submit{
		ID: ev.String("id"), From: ev.String("from"), To: ev.String("to"), Text: ev.String("text"),
		Coding: ev.Int("data_coding"), EsmClass: ev.Int("esm_class"), RegisteredDelivery: ev.Int("registered_delivery"),
		SourceTON: ev.Int("source_ton"), SourceNPI: ev.Int("source_npi"), DestTON: ev.Int("dest_ton"), DestNPI: ev.Int("dest_npi"),
		At: time.UnixMilli(int64(ev.Int("t"))),
	}
	if u, ok := ev["udh"].(map[string]any); ok {
		f := func(k string) int { v, _ := u[k].(float64); return int(v) }
		sub.Ref, sub.Part, sub.Total = f("ref"), f("part"), f("total")
	}
	return sub
}

// Addr is the SMSC's host:port.
func (s *SMSC) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *SMSC) command(c map[string]any) {
	b, _ := json.Marshal(c)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.stdin.Write(append(b, '\n')); err != nil {
		if s.t != nil {
			s.t.Errorf("smstest: writing to the SMSC: %v", err)
		} else {
			fmt.Fprintf(os.Stderr, "smstest: writing to the SMSC: %v\n", err)
		}
	}
}

// MO sends a message from a phone (from) to our number (to), in GSM 03.38
// when the text fits it, else UCS-2.
func (s *SMSC) MO(from, to, text string) {
	s.command(map[string]any{"cmd": "mo", "from": from, "to": to, "text": text})
}

// MOCoding sends an MO in a given coding: "gsm", "ucs2" or "latin1".
func (s *SMSC) MOCoding(from, to, text, coding string) {
	s.command(map[string]any{"cmd": "mo", "from": from, "to": to, "text": text, "coding": coding})
}

// MOParts sends a concatenated MO: each part with a UDH (reference ref),
// in the order given by order (1-based part numbers; nil: in order).
func (s *SMSC) MOParts(from, to string, parts []string, ref int, order []int) {
	c := map[string]any{"cmd": "mo", "from": from, "to": to, "parts": parts, "ref": ref}
	if order != nil {
		c["order"] = order
	}
	s.command(c)
}

// Receipt sends a delivery receipt for message id (as answered to a
// submit_sm) with stat (DELIVRD, UNDELIV, EXPIRED...), in the body and in
// the receipted_message_id / message_state TLVs.
func (s *SMSC) Receipt(id, stat string) {
	s.command(map[string]any{"cmd": "receipt", "id": id, "stat": stat})
}

// ReceiptBody sends a receipt with the body only (no TLVs) and an error
// code.
func (s *SMSC) ReceiptBody(id, stat, errCode string) {
	s.command(map[string]any{"cmd": "receipt", "id": id, "stat": stat, "err": errCode, "body_only": true})
}

// Drop closes the bound ESME's socket.
func (s *SMSC) Drop() { s.command(map[string]any{"cmd": "drop"}) }

// Pause makes the SMSC close every new connection at once until Resume.
func (s *SMSC) Pause() { s.command(map[string]any{"cmd": "pause"}) }

// Resume accepts binds again.
func (s *SMSC) Resume() { s.command(map[string]any{"cmd": "resume"}) }

// WaitEvent waits for the next event called name (events are queued per
// name; each is returned once).
func (s *SMSC) WaitEvent(ctx context.Context, name string) (Event, error) {
	for {
		s.mu.Lock()
		if q := s.events[name]; len(q) > 0 {
			s.events[name] = q[1:]
			s.mu.Unlock()
			return q[0], nil
		}
		ch, exited := s.changed, s.exited
		s.mu.Unlock()
		if exited {
			return nil, fmt.Errorf("the SMSC exited waiting for %q; stderr: %s", name, s.Stderr())
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("no %q event from the SMSC: %w", name, ctx.Err())
		}
	}
}

// Events returns (and forgets) every queued event called name.
func (s *SMSC) Events(name string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.events[name]
	delete(s.events, name)
	return q
}

// NextSubmit waits for the next submit_sm, to anyone.
func (s *SMSC) NextSubmit(ctx context.Context) (Submit, error) {
	return s.take(ctx, func(q []Submit) ([]int, bool) {
		if len(q) > 0 {
			return []int{0}, true
		}
		return nil, false
	})
}

// NextText waits for the next message to the number to and returns its
// whole text: the parts of a concatenated message (same reference) are
// joined in part order. It also returns the submits it joined.
func (s *SMSC) NextText(ctx context.Context, to string) (string, []Submit, error) {
	var got []Submit
	_, err := s.take(ctx, func(q []Submit) ([]int, bool) {
		first := -1
		for i, sub := range q {
			if sub.To == to {
				first = i
				break
			}
		}
		if first < 0 {
			return nil, false
		}
		f := q[first]
		if f.Total <= 1 {
			got = []Submit{f}
			return []int{first}, true
		}
		idx := []int{}
		for i, sub := range q {
			if sub.To == to && sub.From == f.From && sub.Ref == f.Ref && sub.Total == f.Total {
				idx = append(idx, i)
			}
		}
		if len(idx) < f.Total {
			return nil, false
		}
		idx = idx[:f.Total]
		got = got[:0]
		for _, i := range idx {
			got = append(got, q[i])
		}
		return idx, true
	})
	if err != nil {
		return "", nil, err
	}
	parts := slicesClone(got)
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Part < parts[j].Part })
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), got, nil
}

func slicesClone(s []Submit) []Submit { return append([]Submit(nil), s...) }

// Submits returns the submit_sm queued (not yet taken by NextSubmit or
// NextText).
func (s *SMSC) Submits() []Submit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slicesClone(s.submits)
}

// take removes the submits pick chooses, waiting until it chooses some.
func (s *SMSC) take(ctx context.Context, pick func([]Submit) ([]int, bool)) (Submit, error) {
	for {
		s.mu.Lock()
		if idx, ok := pick(s.submits); ok {
			first := s.submits[idx[0]]
			drop := map[int]bool{}
			for _, i := range idx {
				drop[i] = true
			}
			var rest []Submit
			for i, sub := range s.submits {
				if !drop[i] {
					rest = append(rest, sub)
				}
			}
			s.submits = rest
			s.mu.Unlock()
			return first, nil
		}
		ch, exited := s.changed, s.exited
		s.mu.Unlock()
		if exited {
			return Submit{}, fmt.Errorf("the SMSC exited; stderr: %s", s.Stderr())
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Submit{}, fmt.Errorf("no submit_sm at the SMSC: %w", ctx.Err())
		}
	}
}
