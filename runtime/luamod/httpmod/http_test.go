package httpmod

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod/luamodtest"
)

// testServer starts handler on 127.0.0.1 and returns its URL and port.
func testServer(t *testing.T, handler http.HandlerFunc) (string, int) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	ap := netip.MustParseAddrPort(srv.Listener.Addr().String())
	return srv.URL, int(ap.Port())
}

// testClient returns a Client that may reach 127.0.0.1:port, and fails the
// test if it connects anywhere else or looks up any name but localhost.
func testClient(t *testing.T, cfg Config, port int) *Client {
	t.Helper()
	if port != 0 {
		cfg.Allow = append(cfg.Allow, "127.0.0.1:"+strconv.Itoa(port))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	real := c.dial
	allowed := "127.0.0.1:" + strconv.Itoa(port)
	c.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != allowed {
			t.Errorf("connected to %s", addr)
			return nil, errors.New("test: connection not allowed")
		}
		return real(ctx, network, addr)
	}
	c.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		if !strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
			t.Errorf("looked up %s", host)
			return nil, errors.New("test: lookup not allowed")
		}
		return lookupHost(ctx, "localhost") // from /etc/hosts, whatever the case: never DNS
	}
	return c
}

// testState opens c on a new state's globals for h, with url as a global.
func testState(t *testing.T, c *Client, h *luamodtest.Host, url string) *lua.LState {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	c.Open(L, L.G.Global, h)
	L.SetGlobal("url", lua.LString(url))
	return L
}

func strs(vs []lua.LValue) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

func wantValues(t *testing.T, got []lua.LValue, want ...string) {
	t.Helper()
	if !slices.Equal(strs(got), want) {
		t.Fatalf("script returned %q, want %q", strs(got), want)
	}
}

func TestGet(t *testing.T) {
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Reply", "yes")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "%s %s ua=%s token=%s", r.Method, r.URL.RequestURI(), r.UserAgent(), r.Header.Get("X-Token"))
	})
	h := &luamodtest.Host{}
	L := testState(t, testClient(t, Config{}, port), h, url)
	got := luamodtest.Run(t, L, `
		local r = http.get(url .. "/path?q=1#frag", {headers = {["x-token"] = "abc", ["X-Number"] = 5}})
		local r2 = http.get(url .. "/ua", {headers = {["User-Agent"] = "Bot/2"}})
		return r.status, r.body, r.headers["x-reply"], r.headers["x-multi"], r.headers["X-Reply"], r2.body
	`)
	wantValues(t, got, "202", "GET /path?q=1 ua=Chorus/1 token=abc", "yes", "a, b", "nil", "GET /ua ua=Bot/2 token=")
}

func TestPostAndRequest(t *testing.T) {
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "%s %s [%s] host=%s len=%d", r.Method, r.Header.Get("Content-Type"), body, r.Host, r.ContentLength)
	})
	L := testState(t, testClient(t, Config{}, port), &luamodtest.Host{}, url)
	got := luamodtest.Run(t, L, `
		local out = {}
		local function add(r, err) out[#out + 1] = r and (r.status .. " " .. r.body) or ("error: " .. err) end
		add(http.post(url, "hello"))
		add(http.post(url, '{"a":1}', {content_type = "application/json"}))
		add(http.post(url, "x", {headers = {["Content-Type"] = "text/csv"}}))
		add(http.post(url, {name = "Zoë", tags = {"a", "b"}, n = 2, ok = true}))
		add(http.post(url, 42))
		add(http.request{method = "put", url = url, body = "new", headers = {Host = "example.org"}})
		add(http.request{method = "DELETE", url = url})
		add(http.request{url = url})
		add(http.request{method = "HEAD", url = url})
		add(http.get(url .. "/missing"))
		return unpack(out)
	`)
	wantValues(t, got,
		"200 POST text/plain; charset=utf-8 [hello] host=127.0.0.1:"+strconv.Itoa(port)+" len=5",
		`200 POST application/json [{"a":1}] host=127.0.0.1:`+strconv.Itoa(port)+" len=7",
		"200 POST text/csv [x] host=127.0.0.1:"+strconv.Itoa(port)+" len=1",
		"200 POST application/x-www-form-urlencoded [n=2&name=Zo%C3%AB&ok=true&tags=a&tags=b] host=127.0.0.1:"+strconv.Itoa(port)+" len=39",
		"200 POST text/plain; charset=utf-8 [42] host=127.0.0.1:"+strconv.Itoa(port)+" len=2",
		"200 PUT text/plain; charset=utf-8 [new] host=example.org len=3",
		"200 DELETE  [] host=127.0.0.1:"+strconv.Itoa(port)+" len=0",
		"200 GET  [] host=127.0.0.1:"+strconv.Itoa(port)+" len=0",
		"200 ",
		"404 404 page not found\n",
	)
}

func TestBlockingAroundIOAndCharge(t *testing.T) {
	h := &luamodtest.Host{}
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		if !h.Blocked() {
			t.Error("request arrived outside Blocking")
		}
		h.Note("server")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "0123456789")
	})
	L := testState(t, testClient(t, Config{}, port), h, url)
	wantValues(t, luamodtest.Run(t, L, `return http.get(url).body`), "0123456789")
	ev := h.Events()
	if len(ev) != 4 || ev[0] != "block" || ev[1] != "server" || ev[2] != "resume" || !strings.HasPrefix(ev[3], "charge ") {
		t.Fatalf("events %q, want block, server, resume, charge", ev)
	}
	// The body and the header text: Content-Type, Content-Length, Date.
	if n := h.Charged(); n < int64(10+len("Content-Typetext/plainContent-Length10Date")) || n > 100 {
		t.Fatalf("charged %d", n)
	}

	// A failure resumes too, and charges nothing.
	h2 := &luamodtest.Host{}
	L2 := testState(t, testClient(t, Config{}, port), h2, url)
	wantValues(t, luamodtest.Run(t, L2, `local r, err = http.get("http://10.0.0.1/"); return r, err`),
		"nil", "http: 10.0.0.1:80 is a private address; the operator can allow it with lua.http_allow")
	if ev := h2.Events(); !slices.Equal(ev, []string{"block", "resume"}) {
		t.Fatalf("events %q", ev)
	}
}

func TestChargeFailureRaises(t *testing.T) {
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 1000))
	})
	h := &luamodtest.Host{Budget: 500}
	L := testState(t, testClient(t, Config{}, port), h, url)
	got := luamodtest.Run(t, L, `return pcall(http.get, url)`)
	if got[0] != lua.LFalse || !strings.Contains(got[1].String(), luamodtest.ErrBudget.Error()) {
		t.Fatalf("got %v, want the budget error raised", got)
	}
}

func TestRefusals(t *testing.T) {
	// The only server that may be reached is this one; every URL below is
	// refused before any connection (testClient fails the test otherwise).
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the server: %s", r.URL)
	})
	_ = url
	const tail = "; the operator can allow it with lua.http_allow"
	for _, tc := range []struct{ url, want string }{
		{"http://127.0.0.1/", "http: 127.0.0.1:80 is a loopback address" + tail},
		{"http://127.0.0.1:" + strconv.Itoa(port+1) + "/", "http: 127.0.0.1:" + strconv.Itoa(port+1) + " is a loopback address" + tail},
		{"https://127.0.0.1/", "http: 127.0.0.1:443 is a loopback address" + tail},
		{"http://10.0.0.1/", "http: 10.0.0.1:80 is a private address" + tail},
		{"http://192.168.0.1:8080/admin", "http: 192.168.0.1:8080 is a private address" + tail},
		{"http://169.254.169.254/latest/meta-data/", "http: 169.254.169.254:80 is a link-local address" + tail},
		{"http://[::1]/", "http: [::1]:80 is a loopback address" + tail},
		{"http://[::1]:" + strconv.Itoa(port) + "/", "http: [::1]:" + strconv.Itoa(port) + " is a loopback address" + tail},
		{"http://0.0.0.0/", "http: 0.0.0.0:80 is an unspecified address" + tail},
		{"http://[::]/", "http: [::]:80 is an unspecified address" + tail},
		{"http://localhost/", "http: localhost:80 resolves to 127.0.0.1, a loopback address" + tail},
		{"http://LOCALHOST.:8080/", "http: LOCALHOST.:8080 resolves to 127.0.0.1, a loopback address" + tail},
		{"http://[::ffff:127.0.0.1]/", "http: [::ffff:127.0.0.1]:80 is a loopback address" + tail},
		{"http://[::ffff:a9fe:a9fe]/", "http: [::ffff:a9fe:a9fe]:80 is a link-local address" + tail},
		{"http://100.64.0.1/", "http: 100.64.0.1:80 is a shared (CGNAT) address" + tail},
		{"http://224.0.0.1/", "http: 224.0.0.1:80 is a multicast address" + tail},
		{"http://[fe80::1%25eth0]/", "http: [fe80::1%eth0]:80 is a link-local address" + tail},
		{"http://[fd00:ec2::254]/", "http: [fd00:ec2::254]:80 is a private address" + tail},
		{"http://[64:ff9b::7f00:1]/", "http: [64:ff9b::7f00:1]:80 is a loopback (in NAT64) address" + tail},
		{"http://255.255.255.255/", "http: 255.255.255.255:80 is a reserved address" + tail},
	} {
		h := &luamodtest.Host{}
		L := testState(t, testClient(t, Config{}, port), h, tc.url)
		got := luamodtest.Run(t, L, `return http.get(url)`)
		wantValues(t, got, "nil", tc.want)
		if h.Charged() != 0 {
			t.Errorf("%s: charged %d", tc.url, h.Charged())
		}
	}
}

func TestAllowLetsLoopbackThrough(t *testing.T) {
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	lurl := strings.Replace(url, "127.0.0.1", "localhost", 1)
	c := testClient(t, Config{Allow: []string{"localhost:*"}}, 0) // not the server's address: only the name
	c.dial = (&net.Dialer{}).DialContext
	L := testState(t, c, &luamodtest.Host{}, lurl)
	wantValues(t, luamodtest.Run(t, L, `return http.get(url).body`), "ok")
	// The same server by address is refused: only the name was allowed.
	L.SetGlobal("url", lua.LString(url))
	wantValues(t, luamodtest.Run(t, L, `return http.get(url)`),
		"nil", "http: 127.0.0.1:"+strconv.Itoa(port)+" is a loopback address; the operator can allow it with lua.http_allow")
}

func TestRedirects(t *testing.T) {
	var port int
	var url string
	url, port = testServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/hops/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hops/"))
			if n == 0 {
				io.WriteString(w, "arrived")
				return
			}
			http.Redirect(w, r, "/hops/"+strconv.Itoa(n-1), http.StatusFound)
		case r.URL.Path == "/to":
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
		case r.URL.Path == "/post":
			http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
		case r.URL.Path == "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b)
		}
	})
	L := testState(t, testClient(t, Config{}, port), &luamodtest.Host{}, url)
	const tail = "; the operator can allow it with lua.http_allow"
	for _, tc := range []struct{ script, want string }{
		{`return http.get(url .. "/hops/5").body`, "arrived"},
		{`return http.post(url .. "/post", "kept").body`, "POST kept"},
		{`return select(2, http.get(url .. "/hops/6"))`, "http: GET " + url + "/hops/6: stopped after 5 redirects"},
		{`return select(2, http.get(url .. "/to?u=http://127.0.0.1:1/"))`, "http: 127.0.0.1:1 is a loopback address" + tail},
		{`return select(2, http.get(url .. "/to?u=http://10.0.0.1/x"))`, "http: 10.0.0.1:80 is a private address" + tail},
		{`return select(2, http.get(url .. "/to?u=http://169.254.169.254/"))`, "http: 169.254.169.254:80 is a link-local address" + tail},
		{`return select(2, http.get(url .. "/to?u=http://localhost:` + strconv.Itoa(port+1) + `/"))`, "http: localhost:" + strconv.Itoa(port+1) + " resolves to 127.0.0.1, a loopback address" + tail},
		// The allowed address is allowed by any name.
		{`return http.get(url .. "/to?u=http://localhost:` + strconv.Itoa(port) + `/hops/0").body`, "arrived"},
		{`return select(2, http.get(url .. "/to?u=ftp://example.org/"))`, `http: GET ` + url + `/to?u=ftp://example.org/: redirect to unsupported scheme "ftp"`},
		{`return select(2, http.get(url .. "/to?u=file:///etc/passwd"))`, `http: GET ` + url + `/to?u=file:///etc/passwd: redirect to unsupported scheme "file"`},
	} {
		wantValues(t, luamodtest.Run(t, L, tc.script), tc.want)
	}
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a client gone only once the body is read
		if r.URL.Path == "/slowbody" {
			w.Write([]byte("start"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close
	for _, tc := range []struct {
		name    string
		cfg     Config
		script  string
		want    string
		atLeast time.Duration
	}{
		{"script timeout", Config{}, `return http.get(url, {timeout = 0.2})`, "http: GET " + url + ": timed out after 200ms", 200 * time.Millisecond},
		{"capped by config", Config{Timeout: 300 * time.Millisecond}, `return http.get(url, {timeout = 60})`, "http: GET " + url + ": timed out after 300ms", 300 * time.Millisecond},
		{"config default", Config{Timeout: 250 * time.Millisecond}, `return http.request{url = url, method = "POST", body = "x"}`, "http: POST " + url + ": timed out after 250ms", 250 * time.Millisecond},
		{"while reading the body", Config{}, `return http.get(url .. "/slowbody", {timeout = 0.2})`, "http: GET " + url + "/slowbody: timed out after 200ms", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &luamodtest.Host{}
			L := testState(t, testClient(t, tc.cfg, port), h, url)
			start := time.Now()
			got := luamodtest.Run(t, L, tc.script)
			took := time.Since(start)
			wantValues(t, got, "nil", tc.want)
			if took < tc.atLeast || took > tc.atLeast+2*time.Second {
				t.Errorf("took %v", took)
			}
			if h.Blocked() {
				t.Error("not resumed")
			}
		})
	}
}

func TestSessionCancelStopsRequest(t *testing.T) {
	arrived := make(chan struct{}, 1)
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancelCause(context.Background())
	h := &luamodtest.Host{Ctx: ctx}
	L := testState(t, testClient(t, Config{}, port), h, url)
	go func() {
		<-arrived
		time.Sleep(50 * time.Millisecond)
		cancel(errors.New("caller hung up"))
	}()
	start := time.Now()
	got := luamodtest.Run(t, L, `return http.get(url)`)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancel took %v to stop the request", took)
	}
	wantValues(t, got, "nil", "http: GET "+url+": cancelled (caller hung up)")
	if !slices.Equal(h.Events(), []string{"block", "resume"}) {
		t.Errorf("events %q", h.Events())
	}

	// Already cancelled: no request at all.
	wantValues(t, luamodtest.Run(t, L, `return http.get(url)`), "nil", "http: GET "+url+": cancelled (caller hung up)")
	select {
	case <-arrived:
		t.Error("a request was made under a cancelled context")
	default:
	}
}

func TestSizeCaps(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 10<<20))
	zw.Close()
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(bytes.Repeat([]byte("x"), n))
		case "/chunked":
			for i := 0; i < n; i += 100 {
				w.Write(bytes.Repeat([]byte("x"), min(100, n-i)))
				w.(http.Flusher).Flush()
			}
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz.Bytes())
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprint(w, len(b))
		}
	})
	L := testState(t, testClient(t, Config{MaxBody: 1024, MaxRequestBody: 16}, port), &luamodtest.Host{}, url)
	for _, tc := range []struct{ script, want string }{
		{`return #http.get(url .. "/length?n=1024").body`, "1024"},
		{`local r = http.request{method = "HEAD", url = url .. "/length?n=5000"}; return r.status .. " " .. #r.body .. " " .. r.headers["content-length"]`, "200 0 5000"},
		{`return #http.get(url .. "/chunked?n=1024").body`, "1024"},
		{`return select(2, http.get(url .. "/length?n=1025"))`, "http: GET " + url + "/length?n=1025: response body larger than 1 KiB"},
		{`return select(2, http.get(url .. "/chunked?n=100000"))`, "http: GET " + url + "/chunked?n=100000: response body larger than 1 KiB"},
		{`return select(2, http.get(url .. "/gzip"))`, "http: GET " + url + "/gzip: response body larger than 1 KiB"},
		{`return http.post(url .. "/echo", string.rep("x", 16)).body`, "16"},
		{`return select(2, http.post(url .. "/echo", string.rep("x", 17)))`, "http: request body larger than 16 bytes"},
	} {
		wantValues(t, luamodtest.Run(t, L, tc.script), tc.want)
	}

	// The defaults.
	url2, port2 := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 2<<20+1))
	})
	L2 := testState(t, testClient(t, Config{}, port2), &luamodtest.Host{}, url2)
	wantValues(t, luamodtest.Run(t, L2, `return http.get(url)`), "nil", "http: GET "+url2+": response body larger than 2 MiB")
	wantValues(t, luamodtest.Run(t, L2, `return http.post(url, string.rep("x", 1024 * 1024 + 1))`), "nil", "http: request body larger than 1 MiB")
}

func TestNoCookiesKept(t *testing.T) {
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "secret"})
		fmt.Fprintf(w, "cookie=%q", r.Header.Get("Cookie"))
	})
	L := testState(t, testClient(t, Config{}, port), &luamodtest.Host{}, url)
	wantValues(t, luamodtest.Run(t, L, `local a = http.get(url); return http.get(url).body, a.headers["set-cookie"]`),
		`cookie=""`, "session=secret")
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls=%v", r.TLS != nil)
	}))
	t.Cleanup(srv.Close)
	port := int(netip.MustParseAddrPort(srv.Listener.Addr().String()).Port())
	c := testClient(t, Config{}, port)
	c.transport.TLSClientConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	L := testState(t, c, &luamodtest.Host{}, srv.URL)
	wantValues(t, luamodtest.Run(t, L, `return http.get(url).body`), "tls=true")
}

func TestBadArgumentsRaise(t *testing.T) {
	url, port := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the server: %s", r.URL)
	})
	L := testState(t, testClient(t, Config{}, port), &luamodtest.Host{}, url)
	for _, tc := range []struct{ call, want string }{
		{`http.get()`, "bad argument #1 to get (string expected, got nil)"},
		{`http.get({})`, "string expected, got table"},
		{`http.get("ftp://example.org/")`, `URL "ftp://example.org/": scheme must be http or https`},
		{`http.get("example.org/x")`, "scheme must be http or https"},
		{`http.get("http://")`, `URL "http://" has no host`},
		{`http.get("http://a b/")`, "bad URL"},
		{`http.get(url, "x")`, "table expected, got string"},
		{`http.get(url, {header = {}})`, "unknown option header (known: headers, timeout)"},
		{`http.get(url, {[1] = 2})`, "unknown option 1"},
		{`http.get(url, {content_type = "x"})`, "unknown option content_type"},
		{`http.get(url, {timeout = -1})`, "timeout: a positive number of seconds expected"},
		{`http.get(url, {timeout = 0})`, "timeout: a positive number of seconds expected"},
		{`http.get(url, {timeout = "5"})`, "timeout: a positive number of seconds expected"},
		{`http.get(url, {timeout = 0/0})`, "timeout: a positive number of seconds expected"},
		{`http.get(url, {headers = "x"})`, "headers: table expected, got string"},
		{`http.get(url, {headers = {"x"}})`, "headers: bad header name 1"},
		{`http.get(url, {headers = {["Bad Name"] = "x"}})`, "headers: bad header name Bad Name"},
		{`http.get(url, {headers = {X = "a\r\nInjected: yes"}})`, "headers: X: value has control characters"},
		{`http.get(url, {headers = {X = true}})`, "headers: X: string expected, got boolean"},
		{`http.post(url)`, "bad argument #2 to post (string or table expected, got nil)"},
		{`http.post(url, true)`, "string or table expected, got boolean"},
		{`http.post(url, {a = print})`, `form field "a": string, number or boolean expected`},
		{`http.post(url, {[1] = "x"})`, "form field names must be strings"},
		{`http.post(url, {a = {x = 1}})`, `form field "a": a list of values expected`},
		{`http.post(url, {a = {1, nil, 3}})`, `form field "a": a list of values expected`},
		{`http.post(url, {a = {{}}})`, `form field "a": string, number or boolean expected`},
		{`http.post(url, "x", {content_type = "a\nb"})`, "content_type: a header value expected"},
		{`http.request("x")`, "table expected, got string"},
		{`http.request{}`, "url: string expected, got nil"},
		{`http.request{url = url, method = "CONNECT"}`, "method: one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS expected"},
		{`http.request{url = url, method = 1}`, "method: one of"},
		{`http.request{url = url, body = print}`, "body: string or table expected, got function"},
		{`http.request{url = url, verb = "GET"}`, "unknown option verb"},
	} {
		got := luamodtest.Run(t, L, `return pcall(function() return `+tc.call+` end)`)
		if got[0] != lua.LFalse || !strings.Contains(got[1].String(), tc.want) {
			t.Errorf("%s: %v, want raised %q", tc.call, strs(got), tc.want)
		}
	}
}

func TestOpenGivesEachStateItsOwnTable(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	env1, env2 := L.NewTable(), L.NewTable()
	c.Open(L, env1, &luamodtest.Host{})
	c.Open(L, env2, &luamodtest.Host{})
	if env1.RawGetString("http") == env2.RawGetString("http") {
		t.Fatal("two Opens share one table")
	}
	if L.GetGlobal("http") != lua.LNil {
		t.Fatal("Open touched the globals")
	}
}
