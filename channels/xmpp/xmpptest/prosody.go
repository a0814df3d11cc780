package xmpptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Prosody is a Prosody server a test started, in its own temp dir, on free
// ports of 127.0.0.1.
type Prosody struct {
	Domain          string // "localhost": accounts are user@Domain
	ComponentDomain string // "apps.localhost": the XEP-0114 component's domain
	ComponentSecret string
	C2S             string // 127.0.0.1:port of client connections
	Component       string // 127.0.0.1:port of component connections

	dir, cfg string
	tls      *tls.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd exits

	launched *launcher // set by Launch
}

// Options tune StartProsodyWith.
type Options struct {
	// TLS gives the server a self-signed certificate for Domain, so that
	// it offers STARTTLS (still not requiring it). TLSConfig trusts it.
	TLS bool
}

const installHint = "prosody is not installed: apt-get install prosody (Debian bookworm: prosody 0.12), see DEPENDENCIES.md"

// StartProsody starts Prosody with no TLS (plain c2s allowed) and one
// component, and stops it (by PID) when the test ends. It registers no
// account (see Register). A missing prosody fails the test.
func StartProsody(t testing.TB) *Prosody {
	t.Helper()
	return StartProsodyWith(t, Options{})
}

// StartProsodyWith is StartProsody with options.
func StartProsodyWith(t testing.TB, o Options) *Prosody {
	t.Helper()
	return startProsody(t, o)
}

func startProsody(t failer, o Options) *Prosody {
	t.Helper()
	for _, bin := range []string{"prosody", "prosodyctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s: %v", installHint, err)
		}
	}
	dir := t.TempDir()
	p := &Prosody{
		Domain:          "localhost",
		ComponentDomain: "apps.localhost",
		ComponentSecret: randHex(12),
		C2S:             freeAddr(t),
		Component:       freeAddr(t),
		dir:             dir,
		cfg:             filepath.Join(dir, "prosody.cfg.lua"),
	}
	for _, d := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ssl := ""
	if o.TLS {
		p.tls = writeCert(t, dir, p.Domain)
		ssl = fmt.Sprintf("ssl = { certificate = %q; key = %q; }\n", filepath.Join(dir, "certs", "server.crt"), filepath.Join(dir, "certs", "server.key"))
	}
	if err := os.WriteFile(p.cfg, []byte(p.config(ssl)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop() })
	p.start(t)
	return p
}

func (p *Prosody) config(ssl string) string {
	_, c2sPort, _ := net.SplitHostPort(p.C2S)
	_, compPort, _ := net.SplitHostPort(p.Component)
	tlsMod := "" // without a certificate, mod_tls would offer a STARTTLS that fails
	if ssl != "" {
		tlsMod = `"tls"; `
	}
	root := ""
	if os.Geteuid() == 0 { // prosody refuses root unless told, and drops to user "prosody" in prosodyctl
		root = "run_as_root = true\nprosody_user = \"root\"\nprosody_group = \"root\"\n"
	}
	return fmt.Sprintf(`-- written by xmpptest.StartProsody
daemonize = false
%spidfile = %q
data_path = %q
certificates = %q
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { %s }
component_ports = { %s }
component_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
log = { info = %q; error = %q; }
modules_enabled = { "roster"; "saslauth"; %s"presence"; "message"; "offline"; "disco"; "ping"; "posix"; }
modules_disabled = { "s2s"; }
%s
VirtualHost %q

Component %q
  component_secret = %q
`, root, filepath.Join(p.dir, "prosody.pid"), filepath.Join(p.dir, "data"), filepath.Join(p.dir, "certs"),
		c2sPort, compPort, filepath.Join(p.dir, "prosody.log"), filepath.Join(p.dir, "prosody.err"),
		tlsMod, ssl, p.Domain, p.ComponentDomain, p.ComponentSecret)
}

// TLSConfig trusts the server's certificate (StartProsodyWith TLS), or is
// nil.
func (p *Prosody) TLSConfig() *tls.Config {
	if p.tls == nil {
		return nil
	}
	return p.tls.Clone()
}

func (p *Prosody) start(t failer) {
	t.Helper()
	out, err := os.OpenFile(filepath.Join(p.dir, "prosody.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("prosody", "--config", p.cfg, "-F")
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = out, out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("starting prosody: %v (%s)", err, installHint)
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(exit) }()
	p.mu.Lock()
	p.cmd, p.exit = cmd, exit
	p.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range []string{p.C2S, p.Component} {
		for {
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exit:
				t.Fatalf("prosody exited at start:\n%s", p.logs())
			default:
			}
			if time.Now().After(deadline) {
				p.stop()
				t.Fatalf("prosody did not listen on %s within 20 s:\n%s", a, p.logs())
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

// logs returns the tail of prosody's logs, for failure messages.
func (p *Prosody) logs() string {
	var b strings.Builder
	for _, f := range []string{"prosody.out", "prosody.err", "prosody.log"} {
		data, _ := os.ReadFile(filepath.Join(p.dir, f))
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

// Logs returns the tail of the server's log files.
func (p *Prosody) Logs() string { return p.logs() }

// stop ends the server by PID: SIGTERM, then SIGKILL after 10 s.
func (p *Prosody) stop() {
	p.mu.Lock()
	cmd, exit := p.cmd, p.exit
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exit
	}
}

// Stop stops the server (its data stays for Restart).
func (p *Prosody) Stop(t testing.TB) {
	t.Helper()
	p.stop()
}

// Restart stops the server and starts it again on the same ports and data:
// accounts, rosters and offline messages are kept.
func (p *Prosody) Restart(t testing.TB) {
	t.Helper()
	p.stop()
	p.start(t)
}

// Start starts a stopped server again.
func (p *Prosody) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if !running {
		p.start(t)
	}
}

// Register creates the account user@Domain (prosodyctl register).
func (p *Prosody) Register(t testing.TB, user, password string) {
	t.Helper()
	p.register(t, user, password)
}

func (p *Prosody) register(t failer, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "prosodyctl", "--config", p.cfg, "register", user, p.Domain, password)
	cmd.Dir = p.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("prosodyctl register %s@%s: %v\n%s", user, p.Domain, err, out.String())
	}
}

// JID returns user@Domain.
func (p *Prosody) JID(user string) string { return user + "@" + p.Domain }

func freeAddr(t failer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeCert makes a self-signed certificate for domain and returns a
// client TLS config that trusts it.
func writeCert(t failer, dir, domain string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: domain},
		DNSNames:              []string{domain},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(filepath.Join(dir, "certs", "server.crt"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "server.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &tls.Config{RootCAs: pool, ServerName: domain, MinVersion: tls.VersionTLS12}
}

// failer is what the helpers need of a test; testing.TB has it, and
// Launch provides it outside tests.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// launcher is the failer of Launch: a failure unwinds to Launch (or to
// RegisterErr) as an error, and cleanups run at Close.
type launcher struct {
	mu       sync.Mutex
	dirs     []string
	cleanups []func()
}

type launchFailure struct{ err error }

func (l *launcher) Helper()           {}
func (l *launcher) Fatal(args ...any) { panic(launchFailure{errors.New(fmt.Sprint(args...))}) }
func (l *launcher) Fatalf(format string, args ...any) {
	panic(launchFailure{fmt.Errorf(format, args...)})
}
func (l *launcher) Cleanup(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, f)
}

func (l *launcher) TempDir() string {
	dir, err := os.MkdirTemp("", "xmpptest-")
	if err != nil {
		l.Fatal(err)
	}
	l.mu.Lock()
	l.dirs = append(l.dirs, dir)
	l.mu.Unlock()
	return dir
}

func (l *launcher) close() {
	l.mu.Lock()
	cleanups, dirs := l.cleanups, l.dirs
	l.cleanups, l.dirs = nil, nil
	l.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// catch turns a launcher failure back into an error.
func catch(err *error) {
	if r := recover(); r != nil {
		f, ok := r.(launchFailure)
		if !ok {
			panic(r)
		}
		*err = f.err
	}
}

// Launch is StartProsodyWith outside a test (make bench): the caller must
// Close the server, which also removes its temp dir.
func Launch(o Options) (p *Prosody, err error) {
	l := &launcher{}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	defer catch(&err)
	p = startProsody(l, o)
	p.launched = l
	return p, nil
}

// RegisterErr is Register outside a test.
func (p *Prosody) RegisterErr(user, password string) (err error) {
	defer catch(&err)
	p.register(&launcher{}, user, password)
	return nil
}

// Close stops a server started with Launch and removes its files.
func (p *Prosody) Close() {
	if p.launched != nil {
		p.launched.close()
	}
}
