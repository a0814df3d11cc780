package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/thread"
)

// SMPPConfig is one SMPP 3.4 link to an operator's SMSC (sms.smpp in the
// config file).
type SMPPConfig struct {
	// Name is the route name SMS addresses refer to ("route": "main").
	Name string
	// Addr is the SMSC's host:port.
	Addr string
	// SystemID, Password and SystemType are sent in bind_transceiver.
	SystemID, Password, SystemType string
	// SubmitPerSecond caps submit_sm per second (default 50); submits
	// beyond it wait their turn (bounded by the sender's context).
	SubmitPerSecond float64
	// Window bounds submit_sm waiting for their resp (default 10, at most
	// 255).
	Window int
}

// HTTPConfig is one web-API SMS provider of the Twilio shape (sms.http).
type HTTPConfig struct {
	Name string
	// BaseURL is the API root, e.g. https://api.twilio.com.
	BaseURL string
	// Account and Token are the basic-auth credentials; Token also signs
	// the provider's webhooks (X-Twilio-Signature).
	Account, Token string
	// WebhookPath is where the provider posts incoming messages, e.g.
	// /v1/sms/provider; status callbacks go to WebhookPath+"/status".
	WebhookPath string
}

// Number binds an SMS number (E.164) to the route that carries it.
type Number struct{ Number, Route string }

// Config configures the SMS channel.
type Config struct {
	// Handler runs each conversation (the engine). Required.
	Handler channels.Handler
	// NewID makes session ids. Required.
	NewID func() string
	SMPP  []SMPPConfig
	HTTP  []HTTPConfig
	// Receipt records a delivery receipt on the session that sent the
	// message: text is "delivered" or "failed: STAT (err NNN)". It is
	// called from the link's reader (keep it short: it gets a 5 s
	// context). Optional.
	Receipt func(ctx context.Context, sessionID, text string)
	// Idle ends conversations nobody wrote to (default 30 min) and
	// MaxLive bounds live ones (default 10,000): passed to thread.
	Idle    time.Duration
	MaxLive int
	Logger  *slog.Logger

	// timing is the defaults of defaultTiming; tests shorten them.
	timing timing
}

// timing gathers the channel's delays and bounds.
type timing struct {
	minBackoff, maxBackoff time.Duration // between binds
	bindTimeout            time.Duration // dial + bind_resp
	enquireLink            time.Duration
	respTimeout            time.Duration // submit_sm -> submit_sm_resp
	linkWait               time.Duration // how long a reply waits for a link that is down
	maxQueued              int           // replies waiting for a link that is down, per link
	throttleWait           time.Duration // after ESME_RTHROTTLED, times the attempt
	concatAge              time.Duration // incoming parts wait this long for the others
	concatGroups           int
	concatBytes            int // data of the parts waiting, all groups
	receipts               int // message ids remembered for receipts
	receiptAge             time.Duration
	httpRetryWait          time.Duration // before retrying a provider's 5xx/429 without Retry-After
	httpTimeout            time.Duration
}

func defaultTiming() timing {
	return timing{
		minBackoff:    time.Second,
		maxBackoff:    60 * time.Second,
		bindTimeout:   10 * time.Second,
		enquireLink:   30 * time.Second,
		respTimeout:   30 * time.Second,
		linkWait:      2 * time.Minute,
		maxQueued:     1000,
		throttleWait:  time.Second,
		concatAge:     2 * time.Minute,
		concatGroups:  1000,
		concatBytes:   4 << 20,
		receipts:      100000,
		receiptAge:    72 * time.Hour,
		httpRetryWait: time.Second,
		httpTimeout:   30 * time.Second,
	}
}

// Channel is the SMS channel: every SMPP link and HTTP provider, and the
// conversations on the numbers bound to them.
type Channel struct {
	cfg     Config
	timing  timing
	log     *slog.Logger
	threads *thread.Threads
	links   map[string]*link
	http    map[string]*provider
	sent    *sentLog
	concat  *reassembler

	mu        sync.Mutex
	numbers   map[string]string // E.164 -> route
	serving   bool
	stopped   bool
	stopLinks context.CancelFunc
	served    chan struct{}
}

// New checks cfg and returns the channel; Serve binds the SMPP links.
func New(cfg Config) (*Channel, error) {
	if cfg.Handler == nil || cfg.NewID == nil {
		return nil, errors.New("sms: Handler and NewID are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := cfg.timing
	if t == (timing{}) {
		t = defaultTiming()
	}
	c := &Channel{
		cfg:     cfg,
		timing:  t,
		log:     cfg.Logger.With("network", "sms"),
		links:   map[string]*link{},
		http:    map[string]*provider{},
		numbers: map[string]string{},
		served:  make(chan struct{}),
	}
	names := map[string]string{}
	for i, s := range cfg.SMPP {
		where := fmt.Sprintf("sms.smpp[%d]", i)
		if s.Name != "" {
			where = fmt.Sprintf("sms.smpp %q", s.Name)
		}
		switch {
		case s.Name == "":
			return nil, fmt.Errorf("%s: name is required (SMS addresses name their route)", where)
		case names[s.Name] != "":
			return nil, fmt.Errorf("%s: the route name is already used by %s; route names must be unique", where, names[s.Name])
		case s.Addr == "":
			return nil, fmt.Errorf("%s: addr (host:port of the SMSC) is required", where)
		case s.SystemID == "":
			return nil, fmt.Errorf("%s: system_id is required", where)
		case s.SubmitPerSecond < 0:
			return nil, fmt.Errorf("%s: submit_per_second must be positive", where)
		case s.Window < 0 || s.Window > 255:
			return nil, fmt.Errorf("%s: window must be between 1 and 255", where)
		}
		if _, _, err := splitHostPort(s.Addr); err != nil {
			return nil, fmt.Errorf("%s: addr %q: %v", where, s.Addr, err)
		}
		if s.SubmitPerSecond == 0 {
			s.SubmitPerSecond = 50
		}
		if s.Window == 0 {
			s.Window = 10
		}
		names[s.Name] = "sms.smpp"
		c.links[s.Name] = newLink(c, s)
	}
	paths := map[string]string{}
	for i, h := range cfg.HTTP {
		where := fmt.Sprintf("sms.http[%d]", i)
		if h.Name != "" {
			where = fmt.Sprintf("sms.http %q", h.Name)
		}
		u, err := url.Parse(h.BaseURL)
		switch {
		case h.Name == "":
			return nil, fmt.Errorf("%s: name is required (SMS addresses name their route)", where)
		case names[h.Name] != "":
			return nil, fmt.Errorf("%s: the route name is already used by %s; route names must be unique", where, names[h.Name])
		case h.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return nil, fmt.Errorf("%s: base_url %q must be an http(s) URL such as https://api.twilio.com", where, h.BaseURL)
		case h.Account == "":
			return nil, fmt.Errorf("%s: account is required", where)
		case h.Token == "":
			return nil, fmt.Errorf("%s: token is required (it also signs the webhooks)", where)
		case !strings.HasPrefix(h.WebhookPath, "/") || strings.ContainsAny(h.WebhookPath, "?# {}"):
			return nil, fmt.Errorf("%s: webhook_path %q must be a path such as /v1/sms/%s", where, h.WebhookPath, h.Name)
		case paths[h.WebhookPath] != "":
			return nil, fmt.Errorf("%s: webhook_path %q is already used by %s", where, h.WebhookPath, paths[h.WebhookPath])
		}
		names[h.Name] = "sms.http"
		paths[h.WebhookPath] = where
		c.http[h.Name] = newProvider(c, h)
	}
	c.sent = newSentLog(t.receipts, t.receiptAge)
	c.concat = newReassembler(t.concatGroups, t.concatBytes, t.concatAge, c.expired)
	th, err := thread.New(thread.Config{
		Handler: cfg.Handler,
		Send:    c.send,
		NewID:   cfg.NewID,
		Idle:    cfg.Idle,
		MaxLive: cfg.MaxLive,
		Logger:  c.log,
	})
	if err != nil {
		return nil, err
	}
	c.threads = th
	return c, nil
}

func splitHostPort(addr string) (string, string, error) {
	u, err := url.Parse("smpp://" + addr)
	if err != nil || u.Hostname() == "" || u.Port() == "" || u.Path != "" {
		return "", "", errors.New("want host:port")
	}
	return u.Hostname(), u.Port(), nil
}

// Network is channels.SMS.
func (c *Channel) Network() channels.Network { return channels.SMS }

// Threads exposes the conversations (for the API's DELETE and tests).
func (c *Channel) Threads() *thread.Threads { return c.threads }

// Serve binds every SMPP link as a transceiver and keeps it up (enquire_link,
// rebind with backoff) until ctx is done or Shutdown is called; then it
// unbinds them and returns.
func (c *Channel) Serve(ctx context.Context) error {
	c.mu.Lock()
	if c.serving {
		c.mu.Unlock()
		return errors.New("sms: Serve is already running")
	}
	c.serving = true
	if c.stopped {
		c.mu.Unlock()
		close(c.served)
		return nil
	}
	run, cancel := context.WithCancel(ctx)
	c.stopLinks = cancel
	c.mu.Unlock()
	defer close(c.served)
	var wg sync.WaitGroup
	for _, l := range c.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(run)
		}()
	}
	<-run.Done()
	wg.Wait()
	cancel()
	return nil
}

// Shutdown stops new conversations and drains live ones (their replies
// still go out), then unbinds the links, waiting until ctx is done.
func (c *Channel) Shutdown(ctx context.Context) error {
	err := c.threads.Shutdown(ctx)
	c.mu.Lock()
	c.stopped = true
	stop, serving := c.stopLinks, c.serving
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	if n := c.concat.close(); n > 0 {
		c.log.Warn("sms: incomplete concatenated messages dropped at shutdown", "count", n)
	}
	if serving {
		select {
		case <-c.served:
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("sms: SMPP links still unbinding at shutdown: %w", ctx.Err())
			}
		}
	}
	for _, l := range c.links {
		l.mu.Lock()
		if !l.stopped {
			l.stopped = true
			l.setStateLocked(StateFailed, "the SMS channel is stopped", time.Time{})
		}
		l.mu.Unlock()
	}
	return err
}

// SetNumbers replaces the set of bound numbers. Numbers that do not
// normalise are logged and skipped.
func (c *Channel) SetNumbers(ns []Number) {
	m := make(map[string]string, len(ns))
	for _, n := range ns {
		num, err := channels.Normalize(channels.SMS, n.Number)
		if err != nil {
			c.log.Warn("sms: skipping a bound number that is not E.164", "number", n.Number, "err", err)
			continue
		}
		m[num] = n.Route
	}
	c.mu.Lock()
	c.numbers = m
	c.mu.Unlock()
}

func (c *Channel) routeOf(number string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.numbers[number]
	return r, ok
}

// RouteExists reports whether name is a configured SMPP link or HTTP
// provider.
func (c *Channel) RouteExists(name string) bool {
	return c.links[name] != nil || c.http[name] != nil
}

func (c *Channel) routeNames() string {
	var names []string
	for n := range c.links {
		names = append(names, n)
	}
	for n := range c.http {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none configured"
	}
	return strings.Join(names, ", ")
}

// State reports the state of number's route: "connecting", "connected" or
// "failed" (detail says why; retryAt is the next bind attempt) for an SMPP
// link, "connected" for an HTTP provider, "failed" when the route is not
// configured, "disabled" when the number is not bound.
func (c *Channel) State(number string) (state, detail string, retryAt time.Time) {
	num, err := channels.Normalize(channels.SMS, number)
	if err != nil {
		return StateFailed, err.Error(), time.Time{}
	}
	route, ok := c.routeOf(num)
	if !ok {
		return StateDisabled, "the number is not bound to an app", time.Time{}
	}
	if l := c.links[route]; l != nil {
		return l.status()
	}
	if p := c.http[route]; p != nil {
		return StateConnected, "HTTP provider " + p.cfg.BaseURL, time.Time{}
	}
	return StateFailed, fmt.Sprintf("route %q is not configured (sms.smpp and sms.http routes: %s)", route, c.routeNames()), time.Time{}
}

// Webhooks maps each HTTP provider's WebhookPath to its inbound webhook,
// and WebhookPath+"/status" to its status callback.
func (c *Channel) Webhooks() map[string]http.Handler {
	m := map[string]http.Handler{}
	for _, p := range c.http {
		m[p.cfg.WebhookPath] = http.HandlerFunc(p.inbound)
		m[strings.TrimRight(p.cfg.WebhookPath, "/")+"/status"] = http.HandlerFunc(p.status)
	}
	return m
}

func number(n string) channels.Address { return channels.Address{Network: channels.SMS, ID: n} }

// SendMessage sends m (message()): m.From is our number, m.To theirs.
func (c *Channel) SendMessage(ctx context.Context, m channels.Message) error {
	if m.From.ID == "" {
		return fmt.Errorf("sms: the app has no SMS number to send from: %w", channels.ErrNoRoute)
	}
	return c.send(ctx, m)
}

// Dial opens a conversation of our number from with the number to (call()
// on SMS): what the app says is sent as SMS, and to's next messages go to
// this conversation. The caller closes it.
func (c *Channel) Dial(_ context.Context, from, to string, opts channels.DialOptions) (channels.Conversation, error) {
	f, err := channels.Normalize(channels.SMS, from)
	if err != nil {
		return nil, fmt.Errorf("sms: from: %w", err)
	}
	t, err := channels.Normalize(channels.SMS, to)
	if err != nil {
		return nil, fmt.Errorf("sms: to: %w", err)
	}
	if _, ok := c.routeOf(f); !ok {
		return nil, fmt.Errorf("sms: %s is not bound to an SMS route: %w", f, channels.ErrNoRoute)
	}
	id := opts.SessionID
	if id == "" {
		id = c.cfg.NewID()
	}
	conv, err := c.threads.Open(number(f), number(t), id)
	if err != nil {
		return nil, fmt.Errorf("sms: %s -> %s: %w", f, t, err)
	}
	return conv, nil
}

// send is the threads' Send and SendMessage's: it picks the route of our
// number and sends there. Failures are logged once here.
func (c *Channel) send(ctx context.Context, m channels.Message) error {
	err := c.sendRoute(ctx, m)
	if err != nil {
		c.log.Warn("sms: sending failed", "from", m.From.ID, "to", m.To.ID, "session", m.SessionID, "err", err)
	}
	return err
}

func (c *Channel) sendRoute(ctx context.Context, m channels.Message) error {
	from, err := channels.Normalize(channels.SMS, m.From.ID)
	if err != nil {
		return fmt.Errorf("sms: from: %w", err)
	}
	to, err := channels.Normalize(channels.SMS, m.To.ID)
	if err != nil {
		return fmt.Errorf("sms: to: %w", err)
	}
	if m.Text == "" {
		return nil // nothing to send
	}
	route, ok := c.routeOf(from)
	if !ok {
		return fmt.Errorf("sms: %s is not bound to an SMS route: %w", from, channels.ErrNoRoute)
	}
	if l := c.links[route]; l != nil {
		return l.send(ctx, from, to, m.Text, m.SessionID)
	}
	if p := c.http[route]; p != nil {
		return p.send(ctx, from, to, m.Text, m.SessionID)
	}
	return fmt.Errorf("sms: %s is bound to route %q, which is not configured (routes: %s): %w", from, route, c.routeNames(), channels.ErrNoRoute)
}

// deliver hands an incoming message to its conversation.
func (c *Channel) deliver(route, from, to, text string, headers map[string]string) error {
	if headers == nil {
		headers = map[string]string{}
	}
	headers["route"] = route
	_, _, err := c.threads.Deliver(channels.Message{From: number(from), To: number(to), Text: text, Headers: headers})
	if err != nil {
		c.log.Warn("sms: incoming message not taken; the sender's side will retry", "route", route, "from", from, "to", to, "err", err)
	}
	return err
}

// onIncoming handles a deliver_sm or data_sm: a receipt, or a message
// (maybe one part of a concatenated one). The result is the resp status:
// a temporary error asks the SMSC to deliver it again later.
func (c *Channel) onIncoming(l *link, in incoming) data.CommandStatusType {
	route := l.cfg.Name
	switch mt := in.esm & 0x3C; mt {
	case 0:
	case 0x04, 0x20: // SMSC delivery receipt, intermediate notification
		c.onSMPPReceipt(route, in)
		return data.ESME_ROK
	default:
		l.log.Info("sms: ignored an SME acknowledgement", "esm_class", in.esm)
		return data.ESME_ROK
	}
	from, to := in.src, in.dst
	if err := in.srcErr; err != nil {
		l.log.Warn("sms: "+in.kind+" from a source that is not an E.164 phone number; acknowledged and dropped", "source_addr", in.src, "err", err)
		return data.ESME_ROK
	}
	if err := in.dstErr; err != nil {
		l.log.Warn("sms: "+in.kind+" to a destination that is not a phone number; acknowledged and dropped", "destination_addr", in.dst, "err", err)
		return data.ESME_ROK
	}
	if _, ok := c.routeOf(to); !ok {
		l.log.Warn("sms: message to a number not bound to an app; acknowledged and dropped", "to", to, "from", from)
		return data.ESME_ROK
	}
	coding := in.coding
	if !in.codingKnown {
		l.log.Warn("sms: "+in.kind+" with a data_coding gosmpp does not know; read as GSM 03.38", "from", from)
		coding = codingGSM
	}
	p := part{coding: coding, data: in.data}
	if ref, total, seq, ok := in.concat(); ok {
		k := partKey{route: route, from: from, to: to, ref: ref, total: total}
		parts, full := c.concat.add(k, seq, p)
		switch {
		case full:
			l.log.Warn("sms: too many concatenated messages waiting for their parts; delivering this part on its own", "from", from, "part", seq, "total", total)
			parts = []part{p}
		case parts == nil:
			return data.ESME_ROK // waits for the other parts
		}
		text, known := joinParts(parts)
		if !known {
			l.log.Warn("sms: message in a data_coding that is not text; read as text anyway", "from", from, "data_coding", coding)
		}
		if err := c.deliver(route, from, to, text, nil); err != nil {
			if !full {
				c.concat.restore(k, seq, parts)
			}
			return data.ESME_RX_T_APPN
		}
		return data.ESME_ROK
	}
	text, known := decodeText(coding, in.data)
	if !known {
		l.log.Warn("sms: message in a data_coding that is not text; read as text anyway", "from", from, "data_coding", coding)
	}
	if err := c.deliver(route, from, to, text, nil); err != nil {
		return data.ESME_RX_T_APPN
	}
	return data.ESME_ROK
}

// expired delivers a concatenated message whose parts did not all come.
func (c *Channel) expired(k partKey, parts []part, missing int) {
	c.log.Warn("sms: concatenated message incomplete after the wait; delivering the parts that came",
		"route", k.route, "from", k.from, "to", k.to, "missing", missing, "total", k.total)
	text, _ := joinParts(parts)
	_ = c.deliver(k.route, k.from, k.to, text, nil)
}

func (c *Channel) onSMPPReceipt(route string, in incoming) {
	body, _ := decodeText(in.coding, in.data)
	r, _ := parseReceipt(body)
	if f, ok := in.tlv[pdu.TagReceiptedMessageID]; ok && f.String() != "" {
		r.ID = f.String()
	}
	if f, ok := in.tlv[pdu.TagMessageStateOption]; ok && len(f.Data) == 1 && r.Stat == "" {
		r.Stat = messageStates[f.Data[0]]
	}
	if r.ID == "" || r.Stat == "" {
		c.log.Warn("sms: unreadable delivery receipt; acknowledged and ignored", "route", route, "body", cut(body, 200))
		return
	}
	c.receipt(route, r.ID, r.Stat, r.Err)
}

// receipt records a receipt for message id on the session that sent it.
func (c *Channel) receipt(route, id, stat, errCode string) {
	session, text, known, ok := c.sent.settle(route, id, stat, errCode)
	switch {
	case !known:
		c.log.Info("sms: delivery receipt for a message id this node does not remember", "route", route, "id", id, "stat", stat)
		return
	case !ok:
		c.log.Debug("sms: delivery receipt noted", "route", route, "id", id, "stat", stat, "session", session)
		return
	}
	c.log.Info("sms: delivery receipt", "route", route, "id", id, "session", session, "receipt", text)
	if c.cfg.Receipt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.cfg.Receipt(ctx, session, text)
		cancel()
	}
}

// cut shortens s for a log line.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r) + "…"
}
