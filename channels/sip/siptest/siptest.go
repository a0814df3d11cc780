// Package siptest starts real SIP peers for the SIP channel's tests: sipp
// (Debian sip-tester) running an XML scenario against a channel, and a
// free-port helper. Peers are started and stopped by PID and bounded in
// time; a missing binary is an error that says what to install.
//
//	res, err := siptest.Sipp(ctx, siptest.SippOptions{
//		Scenario: "testdata/uac_dtmf.xml",
//		Target:   ch.Addr(),
//		Service:  "weather",
//	})
//	// res.ExitCode == 0: every call of the scenario passed.
package siptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SippOptions describe one sipp run.
type SippOptions struct {
	Scenario  string         // path of the XML scenario (-sf)
	Target    netip.AddrPort // the SIP server under test
	Local     netip.Addr     // sipp's address (-i), default Target's (127.0.0.2... simulate other hosts)
	Service   string         // [service] in the scenario (-s), the called user
	Calls     int            // -m, default 1
	Transport string         // "u1" (UDP, default) or "t1" (TCP)
	Timeout   time.Duration  // -timeout and the process bound, default 20 s
	Args      []string       // more sipp arguments (-rate, -key name value...)
	// Server runs a UAS scenario: sipp listens on Local:Port (Port
	// required) and Target is not dialled.
	Server bool
	Port   int
}

// SippResult is what a run left.
type SippResult struct {
	ExitCode int    // 0: every call passed; 1: some failed; 97/99/-1/-2: see sipp(1)
	Output   string // stdout+stderr
	Errors   string // the -trace_err file: messages sipp did not expect
	Messages string // the -trace_msg file: every message sent and received
}

// Sipp runs sipp with opts and waits for it (or ctx, or the timeout).
func Sipp(ctx context.Context, opts SippOptions) (*SippResult, error) {
	bin, err := exec.LookPath("sipp")
	if err != nil {
		return nil, errors.New("siptest: sipp not found: install Debian package sip-tester (apt-get install sip-tester)")
	}
	if opts.Calls <= 0 {
		opts.Calls = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.Transport == "" {
		opts.Transport = "u1"
	}
	if opts.Service == "" {
		opts.Service = "service"
	}
	dir, err := os.MkdirTemp("", "siptest-sipp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	scen, err := filepath.Abs(opts.Scenario)
	if err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	mport, err := FreePort()
	if err != nil {
		return nil, err
	}
	ip := "127.0.0.1"
	if opts.Target.IsValid() {
		ip = opts.Target.Addr().String()
	}
	if opts.Local.IsValid() {
		ip = opts.Local.String()
	}
	args := []string{
		"-sf", scen,
		"-i", ip, "-p", strconv.Itoa(port),
		"-mi", ip, "-mp", strconv.Itoa(mport),
		"-s", opts.Service,
		"-m", strconv.Itoa(opts.Calls),
		"-t", opts.Transport,
		"-nostdin",
		"-timeout", strconv.Itoa(int(opts.Timeout.Seconds())) + "s",
		"-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "err.log"),
		"-trace_msg", "-message_file", filepath.Join(dir, "msg.log"),
	}
	args = append(args, opts.Args...)
	if !opts.Server {
		args = append(args, opts.Target.String())
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout+5*time.Second)
	defer cancel()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("siptest: starting sipp: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		// Stop this sipp (its process group) by PID, then reap it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		werr = fmt.Errorf("siptest: sipp ran longer than %s and was killed", opts.Timeout+5*time.Second)
	}
	res := &SippResult{Output: out.String()}
	res.Errors = readFile(filepath.Join(dir, "err.log"))
	res.Messages = readFile(filepath.Join(dir, "msg.log"))
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		res.ExitCode = ee.ExitCode()
	default:
		return res, werr
	}
	return res, nil
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	return string(b)
}

// String summarises a result for test failures.
func (r *SippResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sipp exit %d\n--- output ---\n%s", r.ExitCode, tail(r.Output, 4000))
	if r.Errors != "" {
		fmt.Fprintf(&b, "\n--- errors ---\n%s", tail(r.Errors, 4000))
	}
	if r.Messages != "" {
		fmt.Fprintf(&b, "\n--- messages ---\n%s", tail(r.Messages, 8000))
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// FreePort returns a port free on 127.0.0.1 for both UDP and TCP (at the
// time of the call).
func FreePort() (int, error) {
	for i := 0; i < 20; i++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		u.Close()
		if err == nil {
			t.Close()
			return p, nil
		}
	}
	return 0, errors.New("siptest: no free port")
}

// Sipsak sends one OPTIONS to uri (sip:user@host:port) with sipsak from
// 127.0.0.1 and returns its exit code (0: 200, 1: another final response,
// 3: no answer) and output. It is bounded by 10 s.
func Sipsak(ctx context.Context, uri string) (int, string, error) {
	bin, err := exec.LookPath("sipsak")
	if err != nil {
		return 0, "", errors.New("siptest: sipsak not found: install Debian package sipsak (apt-get install sipsak)")
	}
	port, err := FreePort()
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-vv", "-s", uri, "-l", strconv.Itoa(port), "-H", "127.0.0.1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out), nil
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), string(out), nil
	}
	return 0, string(out), fmt.Errorf("siptest: sipsak: %w", err)
}
