package channels

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Network names a family of addresses. The values are the lower-case names
// the REST API uses; LuaName gives the upper-case name scripts see.
type Network string

// The networks Chorus knows.
const (
	Web      Network = "web"
	SIP      Network = "sip"
	SMS      Network = "sms"
	XMPP     Network = "xmpp"
	Twitter  Network = "twitter"
	Mastodon Network = "mastodon"
	P2P      Network = "p2p"
)

// Networks lists every network in a stable order.
var Networks = []Network{Web, SIP, SMS, XMPP, Twitter, Mastodon, P2P}

// ParseNetwork accepts a network's REST name or its Lua name, in any case.
func ParseNetwork(s string) (Network, error) {
	n := Network(strings.ToLower(strings.TrimSpace(s)))
	if n == "jabber" {
		return XMPP, nil
	}
	for _, k := range Networks {
		if k == n {
			return n, nil
		}
	}
	return "", &UnknownNetworkError{Name: s}
}

// UnknownNetworkError is returned by ParseNetwork.
type UnknownNetworkError struct{ Name string }

func (e *UnknownNetworkError) Error() string {
	return "unknown network " + `"` + e.Name + `"` + " (want web, sip, sms, xmpp, twitter, mastodon or p2p)"
}

// LuaName is the name scripts see in currentCall.network.
func (n Network) LuaName() string {
	if n == XMPP {
		return "JABBER"
	}
	return strings.ToUpper(string(n))
}

// Voice reports whether conversations on n are calls.
func (n Network) Voice() bool { return n == SIP }

// Address is one end of a conversation: a network and an identifier in the
// normalised form the REST API stores (see Normalize).
type Address struct {
	Network Network
	ID      string
}

func (a Address) String() string { return string(a.Network) + ":" + a.ID }

// Message is one piece of text traffic.
type Message struct {
	From, To Address
	Text     string
	// Name is the sender's display name when the network gives one.
	Name string
	// Headers are network headers (SIP headers, XMPP attributes, ...).
	Headers map[string]string
	At      time.Time
	// SessionID is the session an outgoing message comes from ("" for
	// incoming ones): channels with delivery receipts tie them to it.
	SessionID string
}

// Info describes a conversation as currentCall shows it.
type Info struct {
	ID          string // the session id
	Local       Address
	Remote      Address
	RemoteName  string
	RemoteURI   string // whole URI where the network has one (SIP)
	LocalURI    string
	InitialText string // the first message of a text conversation
	Headers     map[string]string
	Voice       bool
}

// Conversation is one exchange between an app and one person on one network.
// Its methods are called from the handler's goroutine only, except Context.
type Conversation interface {
	Info() Info
	// Context is cancelled when the other party leaves or the conversation
	// is ended from outside (API, shutdown). context.Cause says why.
	Context() context.Context
	// Send delivers one message (text networks) or is spoken (calls
	// implement Call and route say to Play instead).
	Send(ctx context.Context, text string) error
	// Receive waits for the next message from the other party. It returns
	// ErrTimeout when d passes first, ErrHangup when the party has left.
	Receive(ctx context.Context, d time.Duration) (Message, error)
}

// Call is the voice extension of a Conversation, found by type assertion.
type Call interface {
	Conversation
	Answer(ctx context.Context) error
	Answered() bool
	// Play speaks text (TTS) or plays an audio URL; with bargein a key
	// stops it and the digit is kept for the next Collect.
	Play(ctx context.Context, text string, opts PlayOptions) error
	// Collect gathers DTMF (and speech where a recognizer exists).
	Collect(ctx context.Context, opts CollectOptions) (Input, error)
	Record(ctx context.Context, opts RecordOptions) (Recording, error)
	Transfer(ctx context.Context, to string, opts TransferOptions) error
	Reject(ctx context.Context, code int) error
	Redirect(ctx context.Context, to string) error
	Hangup(ctx context.Context) error
}

// PlayOptions tune Call.Play.
type PlayOptions struct {
	Voice   string
	BargeIn bool
}

// CollectOptions tune Call.Collect.
type CollectOptions struct {
	Timeout    time.Duration // wait for the first input
	InterDigit time.Duration
	MaxDigits  int // 0: unbounded (terminator ends)
	Terminator string
	Mode       string // "dtmf", "speech", "any"
}

// Input is what Collect gathered.
type Input struct {
	Text       string
	Kind       string // "dtmf" or "speech"
	Confidence float64
}

// RecordOptions tune Call.Record.
type RecordOptions struct {
	Beep           bool
	Timeout        time.Duration
	SilenceTimeout time.Duration
	MaxTime        time.Duration
	Terminator     string
}

// Recording is a finished recording.
type Recording struct {
	URI      string
	Duration time.Duration
}

// TransferOptions tune Call.Transfer.
type TransferOptions struct {
	CallerID      string
	Timeout       time.Duration
	AnswerOnMedia bool
	Headers       map[string]string
}

// DialOptions tune an outbound conversation (call()).
type DialOptions struct {
	// SessionID is the id of the session that dials (currentCall.sessionId).
	SessionID     string
	Timeout       time.Duration
	AnswerOnMedia bool
	Headers       map[string]string
}

// Closer is implemented by conversations a session opened itself (call()):
// the session closes them when it ends.
type Closer interface {
	Close()
}

// Handler runs a conversation. Returning ends it (like http.Handler).
type Handler interface {
	ServeConversation(c Conversation)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(c Conversation)

// ServeConversation calls f(c).
func (f HandlerFunc) ServeConversation(c Conversation) { f(c) }

// Channel is one network adapter.
type Channel interface {
	Network() Network
	// Serve runs the adapter until ctx is cancelled or Shutdown is called.
	Serve(ctx context.Context) error
	// Shutdown stops taking new conversations and drains live ones until
	// ctx is done.
	Shutdown(ctx context.Context) error
}

// Sender is implemented by channels that can send a message outside any
// conversation (message(), POST /v1/sessions).
type Sender interface {
	SendMessage(ctx context.Context, m Message) error
}

// Sentinel errors. Adapters wrap them with %w.
var (
	ErrHangup      = errors.New("the other party left the conversation")
	ErrTimeout     = errors.New("no input before the timeout")
	ErrNotVoice    = errors.New("not possible on a text network")
	ErrQueueFull   = errors.New("too many messages waiting for this conversation")
	ErrNoRoute     = errors.New("no channel can reach that address")
	ErrUnavailable = errors.New("channel not running")
	// ErrIdle ends a conversation nobody wrote to for too long.
	ErrIdle = errors.New("conversation idle for too long")
	// ErrShutdown ends conversations when the server stops.
	ErrShutdown = errors.New("server shutting down")
	// ErrReleased ends the conversations of an address released from its
	// app (or rebound to another): they must not go on in the old app.
	ErrReleased = errors.New("the address was released from its app")
)
