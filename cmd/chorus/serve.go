package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/chorus-dev/chorus/api"
	"github.com/chorus-dev/chorus/apps"
	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sip"
	"github.com/chorus-dev/chorus/channels/sip/tts"
	"github.com/chorus-dev/chorus/channels/sms"
	"github.com/chorus-dev/chorus/channels/web"
	"github.com/chorus-dev/chorus/channels/xmpp"
	"github.com/chorus-dev/chorus/runtime/applog"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/runtime/luamod/httpmod"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/store"
	"github.com/chorus-dev/chorus/store/sqlite"
)

// serveConfig is everything `chorus serve` needs, resolved from the config
// file, the environment and the flags (in that order of precedence, last
// wins).
type serveConfig struct {
	Data     string
	HTTP     string
	DB       string
	AdminKey string
	// SIP is the SIP listener (UDP and TCP); "off" runs no SIP channel.
	SIP    string
	File   *fileConfig
	Logger *slog.Logger
	// Ready, when set, is called once the HTTP listener is up.
	Ready func(addr string)
	// Notice receives the one-time admin key notice (default os.Stderr).
	Notice io.Writer
}

func newServe() *cobra.Command {
	var sc serveConfig
	var configPath, sipAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Chorus server",
		Long: `Run the Chorus server: the REST API, the web channel and the apps.

On an empty data dir it creates the admin account (its key goes to
<data>/admin.key, mode 0600, and is printed once; CHORUS_ADMIN_KEY sets it
instead), loads the sample apps (weather, echo, menu) and binds each to the web
address of the same name. SIGINT/SIGTERM drain live conversations (up to 10 s)
and exit 0.

Flags have environment equivalents: --data CHORUS_DATA, --http CHORUS_HTTP,
--config CHORUS_CONFIG, --db CHORUS_DB, --sip CHORUS_SIP.

` + configReference,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, err := loadConfig(pick(configPath, os.Getenv("CHORUS_CONFIG")))
			if err != nil {
				return err
			}
			sc.File = fc
			sc.Data = pick(flagOr(cmd, "data", sc.Data), os.Getenv("CHORUS_DATA"), fc.Data, "./chorus-data")
			sc.HTTP = pick(flagOr(cmd, "http", sc.HTTP), os.Getenv("CHORUS_HTTP"), fc.HTTP, "127.0.0.1:8080")
			sc.DB = pick(flagOr(cmd, "db", sc.DB), os.Getenv("CHORUS_DB"), fc.DB)
			sc.AdminKey = pick(os.Getenv("CHORUS_ADMIN_KEY"), fc.AdminKey)
			sc.SIP = pick(flagOr(cmd, "sip", sipAddr), os.Getenv("CHORUS_SIP"), fc.SIP.Listen, "127.0.0.1:5060")
			sc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServer(ctx, sc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sc.Data, "data", "", "data dir: the embedded store, keys, recordings (default ./chorus-data)")
	f.StringVar(&sc.HTTP, "http", "", "REST API, web channel and dashboard address (default 127.0.0.1:8080)")
	f.StringVar(&sc.DB, "db", "", "database URL (default: the SQLite file in --data)")
	f.StringVar(&configPath, "config", "", "YAML config file (reference below)")
	f.StringVar(&sipAddr, "sip", "", `SIP listener, UDP and TCP (default 127.0.0.1:5060; "off": no SIP)`)
	return cmd
}

// flagOr returns the flag's value if it was set on the command line.
func flagOr(cmd *cobra.Command, name, v string) string {
	if cmd.Flags().Changed(name) {
		return v
	}
	return ""
}

// pick returns the first non-empty value.
func pick(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// server is a running Chorus.
type server struct {
	st     store.Store
	sb     *sandbox.Sandbox
	eng    *engine.Engine
	web    *web.Channel
	sip    *sip.Channel
	tts    *tts.Synth
	xmpp   *xmpp.Channel
	sms    *sms.Channel
	addrs  *addressSync
	api    *api.Server
	hub    *applog.Hub
	log    *slog.Logger
	ln     net.Listener
	http   *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func runServer(ctx context.Context, sc serveConfig) error {
	s, err := startServer(sc)
	if err != nil {
		return err
	}
	<-ctx.Done()
	s.log.Info("shutting down: draining live conversations")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.shutdown(sctx); err != nil {
		// Whatever did not drain in time was cut and is recorded as
		// server_restart; stopping on a signal is still a clean exit.
		s.log.Warn("shutdown: not everything drained in time", "err", err)
	}
	return nil
}

func startServer(sc serveConfig) (*server, error) {
	log := sc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if sc.File == nil {
		sc.File = &fileConfig{}
	}
	fc := sc.File
	if err := os.MkdirAll(sc.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", sc.Data, err)
	}
	if sc.DB != "" && !strings.HasPrefix(sc.DB, "sqlite:") {
		return nil, fmt.Errorf("--db %s: only the embedded SQLite store is in this build; PostgreSQL comes with the cluster work", sc.DB)
	}
	key, err := store.LoadOrCreateKey(sc.Data)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(sc.Data, "chorus.db"), Key: key, Logger: log})
	if err != nil {
		return nil, err
	}
	s := &server{st: st, log: log}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	if n, err := st.MarkInterrupted(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("sessions interrupted by the last stop marked ended", "count", n)
	}
	if sc.Notice == nil {
		sc.Notice = os.Stderr
	}
	admin, fresh, err := ensureAdmin(ctx, st, sc.Data, sc.AdminKey, sc.Notice)
	if err != nil {
		return nil, err
	}
	if fresh {
		sipDomain := ""
		if sc.SIP != "" && sc.SIP != "off" {
			sipDomain = pick(fc.SIP.Domain, "localhost")
		}
		if err := loadSamples(ctx, st, admin, sipDomain); err != nil {
			return nil, err
		}
		if sipDomain != "" {
			log.Info("sample apps loaded", "web", "weather, echo, menu", "sip", "sip:weather@"+sipDomain+", sip:echo@"+sipDomain+", sip:menu@"+sipDomain)
		} else {
			log.Info("sample apps loaded", "web", "weather, echo, menu")
		}
	}

	limits := sandbox.Limits{}
	if fc.Lua.ComputeMS > 0 {
		limits.Compute = time.Duration(fc.Lua.ComputeMS) * time.Millisecond
	}
	limits.SessionMax = fc.Lua.SessionMax.Duration
	if fc.Lua.MemoryMB > 0 {
		limits.Memory = int64(fc.Lua.MemoryMB) << 20
	}
	s.sb, err = sandbox.New(sandbox.Config{Limits: limits, Logger: log})
	if err != nil {
		return nil, err
	}
	hc, err := httpmod.New(httpmod.Config{Allow: fc.Lua.HTTPAllow})
	if err != nil {
		return nil, fmt.Errorf("lua.http_allow: %w", err)
	}
	s.hub = applog.New(st)
	appMsgs := 60
	if r := fc.Limits.AppMessages; r.N > 0 {
		appMsgs = int(r.perSecond()*60 + 0.5)
	}
	s.eng, err = engine.New(engine.Config{Store: st, Sandbox: s.sb, Logs: s.hub, HTTP: hc, AppMessagesPerMinute: appMsgs, Logger: log})
	if err != nil {
		return nil, err
	}
	s.web, err = web.New(web.Config{
		Handler: s.eng,
		Resolve: func(ctx context.Context, a string) (bool, error) {
			return s.eng.Resolve(ctx, channels.Address{Network: channels.Web, ID: a})
		},
		NewID:            engine.NewID,
		TurnTimeout:      fc.Web.TurnTimeout.Duration,
		PerSender:        fc.Limits.WebPerSender.perSecond(),
		PerIP:            fc.Limits.WebPerIP.perSecond(),
		MaxConversations: fc.Web.MaxConversations,
		Logger:           log,
	})
	if err != nil {
		return nil, err
	}
	if sc.SIP != "" && sc.SIP != "off" {
		if s.sip, err = s.newSIP(fc, sc.Data, sc.SIP); err != nil {
			return nil, fmt.Errorf("sip: %w", err)
		}
	}
	if s.xmpp, err = s.newXMPP(fc); err != nil {
		return nil, fmt.Errorf("xmpp: %w", err)
	}
	if s.sms, err = s.newSMS(fc); err != nil {
		return nil, fmt.Errorf("sms: %w", err)
	}
	router := engine.Router{
		Senders: map[channels.Network]channels.Sender{channels.Web: s.web, channels.XMPP: s.xmpp, channels.SMS: s.sms},
		Dialers: map[channels.Network]engine.Dialer{channels.Web: s.web, channels.XMPP: s.xmpp, channels.SMS: s.sms},
	}
	if s.sip != nil {
		router.Senders[channels.SIP], router.Dialers[channels.SIP] = s.sip, s.sip
	}
	s.eng.SetOutbound(router)
	s.addrs = &addressSync{s: s}
	s.api, err = api.New(api.Config{
		Store: st, Engine: s.eng, Logs: s.hub, Web: s.web, Logger: log,
		States:           s.addressState,
		Check:            s.checkAddress(fc),
		AddressesChanged: func() { s.addrs.sync(context.Background()) },
		Webhooks:         s.sms.Webhooks(),
	})
	if err != nil {
		return nil, err
	}
	s.ln, err = net.Listen("tcp", sc.HTTP)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", sc.HTTP, err)
	}
	s.http = &http.Server{Handler: s.api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.addrs.sync(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	for _, ch := range s.channels() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := ch.Serve(bg); err != nil && bg.Err() == nil {
				log.Error("channel stopped", "network", string(ch.Network()), "err", err)
			}
		}()
	}
	if s.sip != nil {
		log.Info("chorus is serving", "http", "http://"+s.ln.Addr().String(), "sip", s.sip.Addr().String(), "data", sc.Data)
	} else {
		log.Info("chorus is serving", "http", "http://"+s.ln.Addr().String(), "data", sc.Data)
	}
	if sc.Ready != nil {
		sc.Ready(s.ln.Addr().String())
	}
	ok = true
	return s, nil
}

// shutdown stops taking requests, drains conversations until ctx is done,
// then closes the store (which flushes pending writes).
func (s *server) shutdown(ctx context.Context) error {
	var errs []error
	httpDone := make(chan struct{})
	if s.http != nil {
		// Stop accepting; in-flight turns end as their conversations do.
		go func() { defer close(httpDone); _ = s.http.Shutdown(ctx) }()
	} else {
		close(httpDone)
	}
	// The channels drain side by side: each has the whole deadline.
	var cwg sync.WaitGroup
	var cmu sync.Mutex
	for _, ch := range s.channels() {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			if err := ch.Shutdown(ctx); err != nil {
				cmu.Lock()
				errs = append(errs, fmt.Errorf("%s channel: %w", ch.Network(), err))
				cmu.Unlock()
			}
		}()
	}
	cwg.Wait()
	if s.eng != nil {
		if err := s.eng.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.http != nil {
		_ = s.http.Close()
	}
	<-httpDone
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.close()
	return errors.Join(errs...)
}

// channels are the channels that were started.
func (s *server) channels() []channels.Channel {
	var out []channels.Channel
	if s.web != nil {
		out = append(out, s.web)
	}
	if s.sip != nil {
		out = append(out, s.sip)
	}
	if s.xmpp != nil {
		out = append(out, s.xmpp)
	}
	if s.sms != nil {
		out = append(out, s.sms)
	}
	return out
}

func (s *server) close() {
	if s.sip != nil {
		// The SIP channel binds its sockets when built: release them even
		// when the server failed to start (after a shutdown this is a no-op).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.sip.Shutdown(ctx)
		cancel()
	}
	if s.tts != nil {
		_ = s.tts.Close()
	}
	if s.sb != nil {
		_ = s.sb.Close()
	}
	if s.st != nil {
		if err := s.st.Close(); err != nil {
			s.log.Error("closing the store", "err", err)
		}
	}
}

// ensureAdmin finds or creates the admin account. fresh is true when the
// data dir was empty (the admin account was just created).
func ensureAdmin(ctx context.Context, st store.Store, dataDir, envKey string, notice io.Writer) (store.Account, bool, error) {
	keyFile := filepath.Join(dataDir, "admin.key")
	if envKey != "" {
		if a, err := st.AccountByKey(ctx, envKey); err == nil {
			if a.Role != store.RoleAdmin {
				return a, false, errors.New("CHORUS_ADMIN_KEY is the key of a non-admin account; choose another key")
			}
			return a, false, nil
		}
		a, err := st.AccountByName(ctx, "admin")
		if err == nil {
			// A new CHORUS_ADMIN_KEY rotates the admin's key: the old one
			// (and a generated admin.key) stops working.
			if err := st.SetKey(ctx, a.ID, envKey); err != nil {
				return a, false, fmt.Errorf("rotate the admin key to CHORUS_ADMIN_KEY: %w", err)
			}
			if rerr := os.Remove(keyFile); rerr == nil {
				fmt.Fprintf(notice, "chorus: the admin key is now CHORUS_ADMIN_KEY; %s was removed\n", keyFile)
			}
			return a, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return a, false, err
		}
		a, err = st.CreateAccountWithKey(ctx, "admin", store.RoleAdmin, envKey)
		if err != nil {
			return a, false, fmt.Errorf("create the admin account from CHORUS_ADMIN_KEY: %w", err)
		}
		return a, true, nil
	}
	if a, err := st.AccountByName(ctx, "admin"); err == nil {
		return a, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return a, false, err
	}
	a, key, err := st.CreateAccount(ctx, "admin", store.RoleAdmin)
	if err != nil {
		return a, false, fmt.Errorf("create the admin account: %w", err)
	}
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		return a, false, fmt.Errorf("write %s: %w", keyFile, err)
	}
	fmt.Fprintf(notice, "chorus: created the admin account; its API key (also in %s):\n  %s\n", keyFile, key)
	return a, true, nil
}

// loadSamples uploads the sample apps into the admin account and binds each
// to the web address of its name, and to sip:<name>@sipDomain when SIP runs.
func loadSamples(ctx context.Context, st store.Store, admin store.Account, sipDomain string) error {
	for _, smp := range apps.Samples() {
		if err := engine.CompileFiles(smp.Files); err != nil {
			return fmt.Errorf("sample app %s: %w", smp.Name, err)
		}
		archive, err := apps.Bundle(smp.Name)
		if err != nil {
			return err
		}
		app, _, _, err := st.PutVersion(ctx, admin.ID, smp.Name, store.Version{
			Kind: "bundle", SHA256: sha256hex(archive), Size: int64(len(archive)), Files: smp.Files, Archive: archive,
		})
		if err != nil {
			return fmt.Errorf("sample app %s: %w", smp.Name, err)
		}
		if _, err := st.AddAddress(ctx, store.AddressRecord{Network: string(channels.Web), Address: smp.Name, AccountID: admin.ID, AppID: app.ID}); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("bind web address %s: %w", smp.Name, err)
		}
		if sipDomain == "" {
			continue
		}
		uri, err := channels.Normalize(channels.SIP, "sip:"+smp.Name+"@"+sipDomain)
		if err != nil {
			return fmt.Errorf("sample app %s: sip address: %w", smp.Name, err)
		}
		if _, err := st.AddAddress(ctx, store.AddressRecord{Network: string(channels.SIP), Address: uri, AccountID: admin.ID, AppID: app.ID}); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("bind sip address %s: %w", uri, err)
		}
	}
	return nil
}
