package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/thread"
	"github.com/chorus-dev/chorus/runtime/applog"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/runtime/luamod/httpmod"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/store"
	"github.com/chorus-dev/chorus/store/sqlite"
)

func newRun() *cobra.Command {
	var network, fromID, toID string
	var appConfig, httpAllow []string
	cmd := &cobra.Command{
		Use:   "run FILE|DIR",
		Short: "Run an app in the terminal, no server needed",
		Long: `Run an app in the terminal as a network would, with no server: each line you
type is a message from you ("> "), each reply prints as "< text".

--network voice (or sip) simulates a phone call: what the app says prints as
"[say] text", and ask reads the keys you type (digits, * and #).
--network sip without voice is SIP MESSAGE text. The app's log goes to stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			voice := network == "voice"
			if voice {
				network = "sip"
			}
			n, err := channels.ParseNetwork(network)
			if err != nil {
				return usageError{err}
			}
			cfg := map[string]string{}
			for _, kv := range appConfig {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageError{fmt.Errorf("--set %q: want KEY=VALUE", kv)}
				}
				cfg[k] = v
			}
			return runApp(cmd.Context(), runOptions{
				Path: args[0], Network: n, Voice: voice, From: fromID, To: toID, Config: cfg, HTTPAllow: httpAllow,
				In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr(),
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&network, "network", "web", "web, sms, xmpp, twitter, mastodon, sip (SIP MESSAGE text), p2p, or voice (a phone call)")
	f.StringVar(&fromID, "from", "", "your address as the app sees it (default per network)")
	f.StringVar(&toID, "to", "", "the app's address (default per network)")
	f.StringArrayVar(&appConfig, "set", nil, "an app config value KEY=VALUE (repeatable)")
	f.StringArrayVar(&httpAllow, "http-allow", nil, "host[:port] the script may reach on loopback/private ranges (repeatable)")
	return cmd
}

type runOptions struct {
	Path      string
	Network   channels.Network
	Voice     bool
	From, To  string
	Config    map[string]string
	HTTPAllow []string
	In        io.Reader
	Out, Err  io.Writer
}

func defaultAddrs(n channels.Network, voice bool) (from, to string) {
	switch {
	case n == channels.SMS || voice:
		return "+14075551111", "+14075550100"
	case n == channels.XMPP:
		return "alice@example.org", "app@chorus.localhost"
	case n == channels.Twitter:
		return "@alice", "@app"
	case n == channels.Mastodon:
		return "@alice@example.social", "@app@chorus.localhost"
	case n == channels.SIP:
		return "sip:alice@example.org", "sip:app@localhost"
	}
	return "alice", "app"
}

func runApp(ctx context.Context, o runOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	files, err := readAppFiles(o.Path)
	if err != nil {
		return err
	}
	if err := engine.CompileFiles(files); err != nil {
		return err
	}
	df, dt := defaultAddrs(o.Network, o.Voice)
	from, to := pick(o.From, df), pick(o.To, dt)
	if from, err = channels.Normalize(o.Network, from); err != nil {
		return usageError{fmt.Errorf("--from: %w", err)}
	}
	if to, err = channels.Normalize(o.Network, to); err != nil {
		return usageError{fmt.Errorf("--to: %w", err)}
	}
	dir, err := os.MkdirTemp("", "chorus-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, err := store.LoadOrCreateKey(dir)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "run.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	acct, _, err := st.CreateAccount(ctx, "run", store.RoleAdmin)
	if err != nil {
		return err
	}
	app, _, _, err := st.PutVersion(ctx, acct.ID, "app", store.Version{Kind: "bundle", Files: files})
	if err != nil {
		return err
	}
	if len(o.Config) > 0 {
		if err := st.MergeConfig(ctx, app.ID, o.Config); err != nil {
			return err
		}
	}
	if _, err := st.AddAddress(ctx, store.AddressRecord{Network: string(o.Network), Address: to, AccountID: acct.ID, AppID: app.ID}); err != nil {
		return err
	}
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		return err
	}
	defer sb.Close()
	hc, err := httpmod.New(httpmod.Config{Allow: o.HTTPAllow})
	if err != nil {
		return err
	}
	hub := applog.New(st)
	logSub, stopLogs := hub.Subscribe(store.LogFilter{})
	defer stopLogs()
	var wg sync.WaitGroup
	logCtx, stopLogPrinter := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case l := <-logSub.C:
				fmt.Fprintf(o.Err, "[log %s] %s\n", l.Level, l.Text)
			case <-logCtx.Done():
				return
			}
		}
	}()
	defer func() { stopLogPrinter(); wg.Wait() }()
	eng, err := engine.New(engine.Config{Store: st, Sandbox: sb, Logs: hub, HTTP: hc})
	if err != nil {
		return err
	}
	local := channels.Address{Network: o.Network, ID: to}
	remote := channels.Address{Network: o.Network, ID: from}
	in := bufio.NewScanner(o.In)
	if o.Voice {
		call := newTermCall(channels.Info{ID: engine.NewID(), Local: local, Remote: remote, Voice: true}, in, o.Out)
		eng.ServeConversation(call)
		fmt.Fprintln(o.Out, "[call ended]")
		return nil
	}
	var outMu sync.Mutex
	th, err := thread.New(thread.Config{
		Handler: eng,
		NewID:   engine.NewID,
		Send: func(_ context.Context, m channels.Message) error {
			outMu.Lock()
			defer outMu.Unlock()
			fmt.Fprintf(o.Out, "< %s\n", m.Text)
			return nil
		},
		Observe: func(_ *thread.Conv, ev thread.Event) {
			if ev.State == thread.Ended {
				outMu.Lock()
				fmt.Fprintln(o.Out, "[conversation ended]")
				outMu.Unlock()
			}
		},
	})
	if err != nil {
		return err
	}
	var last *thread.Conv
	for in.Scan() {
		line := in.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		c, seq, err := th.Deliver(channels.Message{From: remote, To: local, Text: line})
		if err != nil {
			fmt.Fprintf(o.Err, "[not delivered: %v]\n", err)
			continue
		}
		last, _ = c.WaitTurn(ctx, seq)
	}
	// End of input: a waiting conversation is over; one still computing
	// may finish.
	if last != nil && last.State() == thread.Waiting {
		last.End(channels.ErrHangup)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return th.Shutdown(sctx)
}

// readAppFiles reads a script or a directory with main.lua.
func readAppFiles(p string) (map[string][]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{"main.lua": b}, nil
	}
	files := map[string][]byte{}
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := files["main.lua"]; !ok {
		return nil, fmt.Errorf("%s has no main.lua (the entry point)", p)
	}
	return files, nil
}

// termCall is a phone call in the terminal: speech prints, keys are read
// from the input lines.
type termCall struct {
	info     channels.Info
	ctx      context.Context
	cancel   context.CancelCauseFunc
	in       *bufio.Scanner
	out      io.Writer
	answered bool
}

func newTermCall(info channels.Info, in *bufio.Scanner, out io.Writer) *termCall {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &termCall{info: info, ctx: ctx, cancel: cancel, in: in, out: out}
}

func (c *termCall) Info() channels.Info      { return c.info }
func (c *termCall) Context() context.Context { return c.ctx }
func (c *termCall) Answered() bool           { return c.answered }
func (c *termCall) Send(ctx context.Context, t string) error {
	return c.Play(ctx, t, channels.PlayOptions{})
}

func (c *termCall) Answer(context.Context) error {
	if !c.answered {
		c.answered = true
		fmt.Fprintln(c.out, "[answered]")
	}
	return nil
}

func (c *termCall) Play(_ context.Context, text string, _ channels.PlayOptions) error {
	if c.ctx.Err() != nil {
		return channels.ErrHangup
	}
	fmt.Fprintf(c.out, "[say] %s\n", text)
	return nil
}

func (c *termCall) line() (string, error) {
	if !c.in.Scan() {
		c.cancel(channels.ErrHangup)
		return "", channels.ErrHangup
	}
	return strings.TrimSpace(c.in.Text()), nil
}

func (c *termCall) Receive(ctx context.Context, _ time.Duration) (channels.Message, error) {
	l, err := c.line()
	return channels.Message{From: c.info.Remote, To: c.info.Local, Text: l}, err
}

func (c *termCall) Collect(_ context.Context, o channels.CollectOptions) (channels.Input, error) {
	fmt.Fprint(c.out, "[keys] ")
	l, err := c.line()
	if err != nil {
		return channels.Input{}, err
	}
	if l == "" {
		return channels.Input{}, channels.ErrTimeout
	}
	for _, r := range l {
		if !strings.ContainsRune("0123456789*#", r) {
			fmt.Fprintln(c.out, "[only digits, * and # on a keypad]")
			return channels.Input{}, channels.ErrTimeout
		}
	}
	return channels.Input{Text: strings.TrimSuffix(l, pick(o.Terminator, "#")), Kind: "dtmf", Confidence: 1}, nil
}

func (c *termCall) Record(context.Context, channels.RecordOptions) (channels.Recording, error) {
	fmt.Fprintln(c.out, "[recording: type what you say]")
	l, err := c.line()
	return channels.Recording{URI: "terminal:" + l}, err
}

func (c *termCall) Transfer(_ context.Context, to string, _ channels.TransferOptions) error {
	fmt.Fprintf(c.out, "[transfer to %s]\n", to)
	return nil
}

func (c *termCall) Reject(_ context.Context, code int) error {
	fmt.Fprintf(c.out, "[rejected %d]\n", code)
	c.cancel(channels.ErrHangup)
	return nil
}

func (c *termCall) Redirect(_ context.Context, to string) error {
	fmt.Fprintf(c.out, "[redirected to %s]\n", to)
	return nil
}

func (c *termCall) Hangup(context.Context) error {
	fmt.Fprintln(c.out, "[hung up]")
	c.cancel(errors.New("the app hung up"))
	return nil
}
