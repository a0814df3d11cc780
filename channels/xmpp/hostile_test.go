package xmpp_test

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/xmpp"
)

// fakeServer is a hostile XMPP server: it logs clients in (PLAIN, no TLS)
// like a real one, then lets a test write anything to them.
type fakeServer struct {
	t      *testing.T
	ln     net.Listener
	domain string
	// component: speak XEP-0114 (secret) instead of c2s.
	component bool
	secret    string
	// hello, when set, is sent instead of the stream header.
	hello string

	mu    sync.Mutex
	conns map[string][]*fakeConn // by user, in login order
	wg    sync.WaitGroup
}

type fakeConn struct {
	user string
	conn net.Conn
	in   chan fakeStanza // what the client sent after login
	gone chan struct{}   // closed when the client's side is closed
}

type fakeStanza struct {
	XMLName xml.Name
	To      string `xml:"to,attr"`
	From    string `xml:"from,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:"body"`
}

// newFakeServer starts f (domain, component, secret, hello set).
func newFakeServer(t *testing.T, f *fakeServer) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.t, f.ln, f.conns = t, ln, map[string][]*fakeConn{}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, cs := range f.conns {
			for _, c := range cs {
				c.conn.Close()
			}
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) accept() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if f.component {
				f.serveComponent(conn)
			} else {
				f.serveClient(conn)
			}
		}()
	}
}

const fakeHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='%s' from='%s' version='1.0'>"

func readHeader(dec *xml.Decoder) bool {
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "stream" {
			return true
		}
	}
}

func nextStart(dec *xml.Decoder) (xml.StartElement, bool) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se, true
		}
	}
}

func (f *fakeServer) serveClient(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	dec := xml.NewDecoder(conn)
	if !readHeader(dec) {
		return
	}
	if f.hello != "" {
		_, _ = io.WriteString(conn, f.hello)
		_, _ = io.Copy(io.Discard, conn)
		return
	}
	fmt.Fprintf(conn, fakeHeader+"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>", "s1", f.domain)
	se, ok := nextStart(dec) // the relay's probe closes here
	if !ok || se.Name.Local != "auth" {
		return
	}
	var auth struct {
		Text string `xml:",chardata"`
	}
	if dec.DecodeElement(&auth, &se) != nil {
		return
	}
	raw, _ := base64.StdEncoding.DecodeString(auth.Text)
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[2] != "pw" {
		_, _ = io.WriteString(conn, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure></stream:stream>")
		return
	}
	user := parts[1]
	_, _ = io.WriteString(conn, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
	dec = xml.NewDecoder(conn)
	if !readHeader(dec) {
		return
	}
	fmt.Fprintf(conn, fakeHeader+"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>", "s2", f.domain)
	se, ok = nextStart(dec)
	if !ok || se.Name.Local != "iq" {
		return
	}
	var iq struct {
		ID string `xml:"id,attr"`
	}
	if dec.DecodeElement(&iq, &se) != nil {
		return
	}
	fmt.Fprintf(conn, "<iq type='result' id='%s'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>%s@%s/r1</jid></bind></iq>", iq.ID, user, f.domain)
	_ = conn.SetDeadline(time.Time{})
	f.serveStanzas(conn, dec, user)
}

func (f *fakeServer) serveComponent(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	dec := xml.NewDecoder(conn)
	if !readHeader(dec) {
		return
	}
	fmt.Fprintf(conn, "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='c1' from='%s'>", f.domain)
	se, ok := nextStart(dec)
	if !ok || se.Name.Local != "handshake" {
		return
	}
	var hs struct {
		Text string `xml:",chardata"`
	}
	if dec.DecodeElement(&hs, &se) != nil {
		return
	}
	sum := sha1.Sum([]byte("c1" + f.secret))
	if hs.Text != hex.EncodeToString(sum[:]) {
		_, _ = io.WriteString(conn, "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
		return
	}
	_, _ = io.WriteString(conn, "<handshake/>")
	_ = conn.SetDeadline(time.Time{})
	f.serveStanzas(conn, dec, "component")
}

// serveStanzas registers a logged-in connection and reads what the client
// sends until it closes.
func (f *fakeServer) serveStanzas(conn net.Conn, dec *xml.Decoder, user string) {
	c := &fakeConn{user: user, conn: conn, in: make(chan fakeStanza, 64), gone: make(chan struct{})}
	f.mu.Lock()
	f.conns[user] = append(f.conns[user], c)
	f.mu.Unlock()
	defer close(c.gone)
	for {
		se, ok := nextStart(dec)
		if !ok {
			return
		}
		var st fakeStanza
		if dec.DecodeElement(&st, &se) != nil {
			return
		}
		select {
		case c.in <- st:
		default:
		}
	}
}

// login waits for user's n-th login (1-based) and returns it.
func (f *fakeServer) login(t *testing.T, user string, n int) *fakeConn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		cs := f.conns[user]
		f.mu.Unlock()
		if len(cs) >= n {
			return cs[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log in a %d. time", user, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fakeServer) logins(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns[user])
}

// roundTrip checks c still answers: the echo app replies to a message.
func (c *fakeConn) roundTrip(t *testing.T, from, to, text string) {
	t.Helper()
	fmt.Fprintf(c.conn, "<message from='%s' to='%s' type='chat'><body>%s</body></message>", from, to, text)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case st := <-c.in:
			if st.XMLName.Local == "message" && st.Body == "echo: "+text {
				if st.To != from {
					t.Errorf("reply to %q, want %q", st.To, from)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no echo of %q on %s's connection", text, c.user)
		}
	}
}

// hostile inputs and the reason logged for each.
var hostileCases = []struct {
	name, reason string
	payload      func(w io.Writer) (int64, error)
}{
	{"OversizedStanza", "a stanza larger than 256 KiB", flood},
	{"BillionLaughs", "a DOCTYPE declaration", str(`<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><message from='m@fake/x' type='chat'><body>&lol2;</body></message>`)},
	{"ExternalEntity", "malformed XML", str(`<message from='m@fake/x' type='chat'><body>&xxe;</body></message>`)},
	{"Malformed", "malformed XML", str(`<message from='m@fake/x' type='chat'><body>unclosed</message>`)},
	{"Comment", "an XML comment", str(`<!-- a comment -->`)},
	{"DeepNesting", "nested deeper than 64", str("<message from='m@fake/x' type='chat'>" + strings.Repeat("<a>", 200))},
	{"ProcessingInstruction", "a processing instruction", str(`<?evil payload?>`)},
	{"Binary", "malformed XML", str("\x00\x01\x02\xff\xfe<<<>>>")},
}

func str(s string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, s)
		return int64(n), err
	}
}

// flood writes one message whose body never ends, up to 64 MiB, and
// returns how much the client let through before resetting.
func flood(w io.Writer) (int64, error) {
	if _, err := io.WriteString(w, "<message from='m@fake/x' type='chat'><body>"); err != nil {
		return 0, err
	}
	chunk := []byte(strings.Repeat("A", 64<<10))
	var n int64
	for n < 64<<20 {
		if c, ok := w.(net.Conn); ok {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		}
		k, err := w.Write(chunk)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestHostileServer: a server sending oversized stanzas, DTDs, entity
// tricks or broken XML gets its connection reset and logged; the channel
// reconnects, keeps its memory, and the other connections keep serving.
func TestHostileServer(t *testing.T) {
	f := newFakeServer(t, &fakeServer{domain: "fake"})
	accts := []xmpp.Account{{JID: "good@fake", Password: "pw", Server: f.addr()}}
	for i := range hostileCases {
		accts = append(accts, xmpp.Account{JID: fmt.Sprintf("evil%d@fake", i), Password: "pw", Server: f.addr()})
	}
	r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, accts...)
	for _, a := range accts {
		waitState(t, r.ch, a.JID, "connected", 10*time.Second)
	}
	good := f.login(t, "good", 1)
	good.roundTrip(t, "alice@fake/x", "good@fake/r1", "before")
	fdsBefore := openFDs()

	for i, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("evil%d", i)
			jid := user + "@fake"
			c := f.login(t, user, 1)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			wrote := make(chan int64, 1)
			go func() { n, _ := tc.payload(c.conn); wrote <- n }()
			select {
			case <-c.gone:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection was not reset")
			}
			n := <-wrote
			r.logs.waitLog(t, 5*time.Second, "level=WARN", "jid="+jid, tc.reason)
			f.login(t, user, 2) // reconnected
			waitState(t, r.ch, jid, "connected", 10*time.Second)
			runtime.ReadMemStats(&after)
			if tc.name == "OversizedStanza" {
				if n >= 64<<20 {
					t.Errorf("all %d MiB of one stanza were read", n>>20)
				}
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
					t.Errorf("reading a hostile %d MiB stanza allocated %d MiB", n>>20, grew>>20)
				}
				t.Logf("server pushed %d KiB before the reset; %d KiB allocated meanwhile", n>>10, (after.TotalAlloc-before.TotalAlloc)>>10)
			}
			// The reconnected link and the other account still serve.
			f.login(t, user, 2).roundTrip(t, "alice@fake/x", jid+"/r1", "after-"+user)
			good.roundTrip(t, "alice@fake/x", "good@fake/r1", "still-"+user)
			if f.logins("good") != 1 {
				t.Errorf("the good account reconnected %d times", f.logins("good")-1)
			}
		})
	}
	// Every reset connection's sockets are closed (go-xmpp's end of the
	// loopback leg when its client is collected).
	runtime.GC()
	runtime.GC()
	if fdsBefore > 0 {
		deadline := time.Now().Add(5 * time.Second)
		for openFDs() > fdsBefore+2 && time.Now().Before(deadline) {
			runtime.GC()
			time.Sleep(50 * time.Millisecond)
		}
		if n := openFDs(); n > fdsBefore+2 {
			t.Errorf("%d file descriptors open after %d resets, %d before", n, len(hostileCases), fdsBefore)
		}
	}
}

// openFDs counts the process's open files (0 where /proc is missing).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// TestHostileHello: a server whose very first answer carries a DTD is
// refused before anyone logs in, and retried with backoff.
func TestHostileHello(t *testing.T) {
	f := newFakeServer(t, &fakeServer{domain: "fake",
		hello: `<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a "aaaa">]><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`})
	r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true}, xmpp.Account{JID: "bot@fake", Password: "pw", Server: f.addr()})
	detail := waitState(t, r.ch, "bot@fake", "failed", 10*time.Second)
	if !strings.Contains(detail, "connection reset") || !strings.Contains(detail, "DOCTYPE") {
		t.Errorf("detail %q", detail)
	}
	_, _, retry := r.ch.State("bot@fake")
	if retry.IsZero() {
		t.Error("no retry time")
	}
}

// TestHostileComponentServer: the same on a component link.
func TestHostileComponentServer(t *testing.T) {
	f := newFakeServer(t, &fakeServer{domain: "apps.fake", component: true, secret: "s3cret"})
	comp := xmpp.Component{Domain: "apps.fake", Server: f.addr(), Secret: "s3cret"}
	r := start(t, xmpp.Config{Handler: echo, Components: []xmpp.Component{comp}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	waitState(t, r.ch, "bot@apps.fake", "connected", 10*time.Second)
	c := f.login(t, "component", 1)
	c.roundTrip(t, "alice@fake/x", "bot@apps.fake", "hello")
	for i, tc := range []struct{ reason, payload string }{
		{"a stanza larger than 256 KiB", ""},
		{"a DOCTYPE declaration", `<!DOCTYPE x [<!ENTITY a "a">]>`},
		{"malformed XML", `<message from='alice@fake/x' to='bot@apps.fake'><body></message>`},
		{"restarted more than", strings.Repeat("<stream:stream>", 100_000)},
	} {
		var n int64
		if tc.payload == "" {
			n, _ = flood(c.conn)
		} else {
			_, _ = io.WriteString(c.conn, tc.payload)
		}
		select {
		case <-c.gone:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the link was not reset", tc.reason)
		}
		if n >= 64<<20 {
			t.Errorf("the whole flood was read")
		}
		r.logs.waitLog(t, 5*time.Second, "level=WARN", "component=apps.fake", tc.reason)
		c = f.login(t, "component", i+2)
		c.roundTrip(t, "alice@fake/x", "bot@apps.fake", fmt.Sprintf("again-%d", i))
	}
}

// TestSilentServer: a server that stops answering is pinged, then the
// connection is reset and a new one made.
func TestSilentServer(t *testing.T) {
	f := newFakeServer(t, &fakeServer{domain: "fake"}) // never answers pings
	r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true, Ping: 300 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		xmpp.Account{JID: "bot@fake", Password: "pw", Server: f.addr()})
	first := f.login(t, "bot", 1)
	select {
	case <-first.gone:
	case <-time.After(5 * time.Second):
		t.Fatal("a silent server was not given up")
	}
	r.logs.waitLog(t, 5*time.Second, "did not answer a ping")
	f.login(t, "bot", 2)
	waitState(t, r.ch, "bot@fake", "connected", 5*time.Second)
}

// live counts user's connections the channel has not closed.
func (f *fakeServer) live(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.conns[user] {
		select {
		case <-c.gone:
		default:
			n++
		}
	}
	return n
}

// TestSetAccountsConcurrent: SetAccounts from many goroutines while the
// channel serves ends with exactly the last set connected, once each.
func TestSetAccountsConcurrent(t *testing.T) {
	f := newFakeServer(t, &fakeServer{domain: "fake"})
	_, port, _ := net.SplitHostPort(f.addr())
	acct := func(i int, alt bool) xmpp.Account {
		a := xmpp.Account{JID: fmt.Sprintf("u%d@fake", i), Password: "pw", Server: f.addr()}
		if alt { // the same server written otherwise: a change that restarts the account
			a.Server = "localhost:" + port
		}
		return a
	}
	r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range 15 {
				var set []xmpp.Account
				for i := range 10 {
					if (i+g+it)%3 != 0 {
						set = append(set, acct(i, (g+it)%2 == 0))
					}
				}
				r.ch.SetAccounts(set)
				_, _, _ = r.ch.State(fmt.Sprintf("u%d@fake", it%10))
				time.Sleep(time.Duration(it%4) * 5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	var final []xmpp.Account
	for i := range 5 {
		final = append(final, acct(i, false))
	}
	r.ch.SetAccounts(final)
	for i := range 10 {
		jid := fmt.Sprintf("u%d@fake", i)
		user := fmt.Sprintf("u%d", i)
		want := 0
		if i < 5 {
			want = 1
			waitState(t, r.ch, jid, "connected", 10*time.Second)
		} else if st, _, _ := r.ch.State(jid); st != "disabled" {
			t.Errorf("State(%s) = %s, want disabled", jid, st)
		}
		deadline := time.Now().Add(10 * time.Second)
		for f.live(user) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s has %d live connections, want %d", user, f.live(user), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// And the survivors answer.
	for i := range 5 {
		user := fmt.Sprintf("u%d", i)
		f.mu.Lock()
		cs := f.conns[user]
		f.mu.Unlock()
		cs[len(cs)-1].roundTrip(t, "alice@fake/x", user+"@fake/r1", "hi "+user)
	}
}

// TestChangedAccountKeepsQueuedReplies: replies queued while an account
// cannot log in (its password changed on the server) go out once the
// operator binds it again with the new password: the account that replaces
// it takes them over.
func TestChangedAccountKeepsQueuedReplies(t *testing.T) {
	f := newFakeServer(t, &fakeServer{domain: "fake"})
	r := start(t, xmpp.Config{Handler: echo, AllowPlaintext: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		xmpp.Account{JID: "bot@fake", Password: "old", Server: f.addr()})
	waitState(t, r.ch, "bot@fake", "failed", 10*time.Second)
	ctx := ctxT(t, 10*time.Second)
	for _, text := range []string{"queued 1", "queued 2"} {
		m := channels.Message{From: channels.Address{Network: channels.XMPP, ID: "bot@fake"},
			To: channels.Address{Network: channels.XMPP, ID: "alice@fake"}, Text: text}
		if err := r.ch.SendMessage(ctx, m); err != nil {
			t.Fatalf("SendMessage while offline: %v", err)
		}
	}
	r.ch.SetAccounts([]xmpp.Account{{JID: "bot@fake", Password: "pw", Server: f.addr()}})
	c := f.login(t, "bot", 1)
	var got []string
	deadline := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case st := <-c.in:
			if st.XMLName.Local == "message" {
				got = append(got, st.Body)
			}
		case <-deadline:
			t.Fatalf("after the new password, the queued replies that came: %q", got)
		}
	}
	if got[0] != "queued 1" || got[1] != "queued 2" {
		t.Errorf("queued replies came as %q", got)
	}
}
