package web

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/thread"
	"github.com/chorus-dev/chorus/internal/httpjson"
)

// Config configures the web channel.
type Config struct {
	Handler channels.Handler
	// Resolve reports whether an app is bound to the web address.
	Resolve func(ctx context.Context, address string) (bool, error)
	NewID   func() string
	// TurnTimeout bounds a POST's wait (default 30 s).
	TurnTimeout time.Duration
	// PerSender is the rate of messages per sender per second (default 10;
	// bursts of the same size).
	PerSender float64
	// PerIP is the rate of requests (messages and WebSocket opens) per
	// client IP per second, whatever "from" it claims (default 50; bursts
	// of twice that).
	PerIP float64
	// MaxConversations bounds live conversations on the channel (default
	// 10,000); past it a new sender gets 503 with Retry-After.
	MaxConversations int
	// Idle ends conversations nobody wrote to (default 30 min).
	Idle   time.Duration
	Logger *slog.Logger
}

// Channel is the web channel.
type Channel struct {
	cfg     Config
	threads *thread.Threads
	ips     *ipLimits

	// base ends every WebSocket at Shutdown; ws counts their handlers.
	base     context.Context
	stopBase context.CancelFunc
	ws       sync.WaitGroup

	mu      sync.Mutex
	senders map[senderKey]*sender
}

type senderKey struct{ address, from string }

type sender struct {
	mu      sync.Mutex
	replies []string
	bytes   int // of replies
	subs    map[*wsSub]struct{}
	rate    bucket
	seen    time.Time
}

type wsSub struct{ c chan []byte }

// Bounds on what waits for a sender to collect it.
const (
	maxReplies     = 256
	maxReplyBytes  = 64 << 10 // one reply; longer ones are cut
	maxBufferBytes = 1 << 20  // all waiting replies of a sender; the oldest go first
)

// New returns the web channel.
func New(cfg Config) (*Channel, error) {
	if cfg.Handler == nil || cfg.Resolve == nil || cfg.NewID == nil {
		return nil, errors.New("web: Handler, Resolve and NewID are required")
	}
	if cfg.TurnTimeout <= 0 {
		cfg.TurnTimeout = 30 * time.Second
	}
	if cfg.PerSender <= 0 {
		cfg.PerSender = 10
	}
	if cfg.PerIP <= 0 {
		cfg.PerIP = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancel(context.Background())
	c := &Channel{cfg: cfg, senders: map[senderKey]*sender{}, ips: newIPLimits(cfg.PerIP), base: base, stopBase: stop}
	th, err := thread.New(thread.Config{
		MaxLive: cfg.MaxConversations,
		Handler: cfg.Handler,
		Send:    c.deliver,
		Idle:    cfg.Idle,
		NewID:   cfg.NewID,
		Observe: c.observe,
		Logger:  cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	c.threads = th
	return c, nil
}

// Network is channels.Web.
func (c *Channel) Network() channels.Network { return channels.Web }

// Serve sweeps idle senders until ctx is done.
func (c *Channel) Serve(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.sweep(10 * time.Minute)
			c.ips.sweep()
		}
	}
}

func (c *Channel) sweep(age time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.senders {
		s.mu.Lock()
		idle := len(s.subs) == 0 && time.Since(s.seen) > age
		s.mu.Unlock()
		if idle && c.threads.Lookup(addr(k.address), from(k.from)) == nil {
			delete(c.senders, k)
		}
	}
}

// Shutdown ends every conversation and waits for them until ctx is done.
func (c *Channel) Shutdown(ctx context.Context) error {
	c.stopBase() // closes every WebSocket
	err := c.threads.Shutdown(ctx)
	done := make(chan struct{})
	go func() { c.ws.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("web: WebSockets still open at shutdown: %w", ctx.Err())
		}
	}
	return err
}

// Threads exposes the conversations (for the API's DELETE and tests).
func (c *Channel) Threads() *thread.Threads { return c.threads }

func addr(a string) channels.Address { return channels.Address{Network: channels.Web, ID: a} }
func from(f string) channels.Address { return channels.Address{Network: channels.Web, ID: f} }

func (c *Channel) sender(k senderKey) *sender {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	s := c.senders[k]
	if s == nil {
		s = &sender{subs: map[*wsSub]struct{}{}, rate: newBucket(c.cfg.PerSender, now)}
		c.senders[k] = s
	}
	// Seen now, under c.mu: the sweep (which holds c.mu) cannot drop a
	// sender that a handler has just taken.
	s.mu.Lock()
	s.seen = now
	s.mu.Unlock()
	return s
}

// allow takes one of the sender's tokens.
func (s *sender) allow(rate float64) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.take(rate, rate, time.Now())
}

// deliver is the threads' Send: keep the reply for the sender and push it.
func (c *Channel) deliver(_ context.Context, m channels.Message) error {
	s := c.sender(senderKey{m.From.ID, m.To.ID})
	text := cut(m.Text, maxReplyBytes)
	frame, _ := json.Marshal(map[string]string{"type": "reply", "text": text})
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.replies) > 0 && (len(s.replies) >= maxReplies || s.bytes+len(text) > maxBufferBytes) {
		s.bytes -= len(s.replies[0])
		s.replies = s.replies[1:]
	}
	s.replies = append(s.replies, text)
	s.bytes += len(text)
	s.push(frame)
	return nil
}

// cut shortens s to at most n bytes on a UTF-8 boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func (s *sender) push(frame []byte) {
	for sub := range s.subs {
		select {
		case sub.c <- frame:
		default: // too slow: close it
			delete(s.subs, sub)
			close(sub.c)
		}
	}
}

func (c *Channel) observe(conv *thread.Conv, ev thread.Event) {
	info := conv.Info()
	s := c.sender(senderKey{info.Local.ID, info.Remote.ID})
	frame, _ := json.Marshal(map[string]string{"type": "state", "state": ev.State.String(), "session": info.ID})
	s.mu.Lock()
	s.push(frame)
	s.mu.Unlock()
}

func (s *sender) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.replies
	s.replies, s.bytes = nil, 0
	return r
}

// Dial opens a conversation of the app at web address from with the web
// sender to (call() with network WEB): what the app says waits for that
// sender, and the sender's next messages go to this conversation.
func (c *Channel) Dial(_ context.Context, fromAddr, to string, opts channels.DialOptions) (channels.Conversation, error) {
	id := opts.SessionID
	if id == "" {
		id = c.cfg.NewID()
	}
	return c.threads.Open(addr(fromAddr), from(to), id)
}

// SendMessage sends m outside any conversation (message() with network
// WEB): the reply waits for the sender m.To on our address m.From.
func (c *Channel) SendMessage(ctx context.Context, m channels.Message) error {
	if m.From.ID == "" {
		return fmt.Errorf("web: the app has no web address to send from: %w", channels.ErrNoRoute)
	}
	return c.deliver(ctx, m)
}

var (
	writeJSON = httpjson.Write
	fail      = httpjson.Fail
)

// TurnRequest is the body of POST /v1/web/{address}/messages.
type TurnRequest struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// Reply is one message of the app.
type Reply struct {
	Text string `json:"text"`
}

// TurnResponse answers a turn.
type TurnResponse struct {
	Session string  `json:"session"`
	Replies []Reply `json:"replies"`
	State   string  `json:"state"`
}

const maxText = 16 << 10

// HandleMessage serves POST /v1/web/{address}/messages; address is the
// path value "address".
func (c *Channel) HandleMessage(w http.ResponseWriter, r *http.Request) {
	address, err := channels.Normalize(channels.Web, r.PathValue("address"))
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_address", err.Error())
		return
	}
	var req TurnRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxText+1024))
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "too_large", "a message is at most 16 KiB of text")
			return
		}
		fail(w, http.StatusBadRequest, "bad_json", "the body must be JSON {\"from\": \"...\", \"text\": \"...\"}: "+err.Error())
		return
	}
	if err := checkMessage(req.From, req.Text); err != nil {
		fail(w, http.StatusBadRequest, "bad_message", err.Error())
		return
	}
	if allowed, wait := c.ips.allow(r); !allowed {
		retry(w, wait, "too many requests from your address; slow down")
		return
	}
	if status, code, msg := c.bound(r.Context(), address); status != 0 {
		fail(w, status, code, msg)
		return
	}
	k := senderKey{address, req.From}
	s := c.sender(k)
	if allowed, wait := s.allow(c.cfg.PerSender); !allowed {
		retry(w, wait, "this sender is sending too fast; slow down")
		return
	}
	conv, seq, err := c.threads.Deliver(channels.Message{From: from(req.From), To: addr(address), Text: req.Text})
	switch {
	case errors.Is(err, channels.ErrQueueFull):
		retry(w, time.Second, "too many messages are waiting for this conversation; wait for the app to answer")
		return
	case errors.Is(err, thread.ErrCapacity):
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, "busy", "too many conversations are going on; try again in a few seconds")
		return
	case errors.Is(err, channels.ErrUnavailable):
		fail(w, http.StatusServiceUnavailable, "unavailable", "the web channel is shutting down")
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.TurnTimeout)
	conv, st := conv.WaitTurn(ctx, seq)
	cancel()
	resp := TurnResponse{Session: conv.Info().ID, Replies: []Reply{}, State: st.String()}
	for _, t := range s.take() {
		resp.Replies = append(resp.Replies, Reply{Text: t})
	}
	writeJSON(w, http.StatusOK, resp)
}

func retry(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	fail(w, http.StatusTooManyRequests, "rate_limited", msg)
}

func checkMessage(from, text string) error {
	switch {
	case from == "":
		return errors.New("\"from\" is required: who is writing (any name)")
	case len(from) > 256:
		return errors.New("\"from\" is longer than 256 bytes")
	case len(text) > maxText:
		return errors.New("\"text\" is longer than 16 KiB")
	case !utf8.ValidString(text) || !utf8.ValidString(from):
		return errors.New("text must be UTF-8")
	}
	return nil
}

//go:embed chat.html
var chatPage []byte

// bound checks that an app answers at address. It returns 0, or the
// status, code and message to answer with: 404 when none does, 503 when the
// lookup failed (logged).
func (c *Channel) bound(ctx context.Context, address string) (int, string, string) {
	ok, err := c.cfg.Resolve(ctx, address)
	switch {
	case err != nil:
		c.cfg.Logger.Error("web: resolving an address failed", "address", address, "err", err)
		return http.StatusServiceUnavailable, "unavailable", "cannot look up the address right now; try again shortly"
	case !ok:
		return http.StatusNotFound, "not_found", "no app answers at web address " + strconv.Quote(address)
	}
	return 0, "", ""
}

// HandlePage serves GET /chat/{address}: a chat page for people, talking to
// the WebSocket below. Unknown addresses get 404.
func (c *Channel) HandlePage(w http.ResponseWriter, r *http.Request) {
	address, err := channels.Normalize(channels.Web, r.PathValue("address"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if status, _, msg := c.bound(r.Context(), address); status != 0 {
		http.Error(w, msg, status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(chatPage)
}

// HandleWS serves GET /v1/web/{address}/ws?from=.
func (c *Channel) HandleWS(w http.ResponseWriter, r *http.Request) {
	address, err := channels.Normalize(channels.Web, r.PathValue("address"))
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_address", err.Error())
		return
	}
	fromID := r.URL.Query().Get("from")
	if err := checkMessage(fromID, ""); err != nil {
		fail(w, http.StatusBadRequest, "bad_message", err.Error())
		return
	}
	if allowed, wait := c.ips.allow(r); !allowed {
		retry(w, wait, "too many requests from your address; slow down")
		return
	}
	if c.base.Err() != nil {
		fail(w, http.StatusServiceUnavailable, "unavailable", "the web channel is shutting down")
		return
	}
	c.ws.Add(1)
	defer c.ws.Done()
	if status, code, msg := c.bound(r.Context(), address); status != 0 {
		fail(w, status, code, msg)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(maxText + 1024)
	k := senderKey{address, fromID}
	s := c.sender(k)
	sub := &wsSub{c: make(chan []byte, 64)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.subs[sub]; ok {
			delete(s.subs, sub)
			close(sub.c)
		}
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(r.Context())
	stopOnShutdown := context.AfterFunc(c.base, cancel)
	defer stopOnShutdown()
	readerDone := make(chan struct{})
	defer func() {
		cancel()
		ws.CloseNow()
		<-readerDone
	}()
	go func() { // reader: owned by this handler, which waits for it
		defer close(readerDone)
		defer cancel()
		for {
			var in struct {
				Text string `json:"text"`
			}
			typ, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if typ != websocket.MessageText || json.Unmarshal(data, &in) != nil || checkMessage(fromID, in.Text) != nil {
				_ = ws.Close(websocket.StatusUnsupportedData, "send {\"text\": \"...\"} frames")
				return
			}
			if ok, _ := s.allow(c.cfg.PerSender); !ok {
				c.wsError(ctx, ws, "rate_limited", "slow down")
				continue
			}
			s.take() // the socket gets every reply as it is sent
			if ok, _ := c.ips.allow(r); !ok {
				c.wsError(ctx, ws, "rate_limited", "too many messages from your address; slow down")
				continue
			}
			if _, _, err := c.threads.Deliver(channels.Message{From: from(fromID), To: addr(address), Text: in.Text}); err != nil {
				c.wsError(ctx, ws, "rejected", err.Error())
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			_ = ws.Close(websocket.StatusNormalClosure, "")
			return
		case frame, ok := <-sub.c:
			if !ok {
				_ = ws.Close(websocket.StatusPolicyViolation, "too slow")
				return
			}
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Write(wctx, websocket.MessageText, frame)
			wcancel()
			if err != nil {
				return
			}
		}
	}
}

func (c *Channel) wsError(ctx context.Context, ws *websocket.Conn, code, msg string) {
	frame, _ := json.Marshal(map[string]string{"type": "error", "code": code, "error": msg})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = ws.Write(wctx, websocket.MessageText, frame)
}
