package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-dev/chorus/apps"
	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms"
	"github.com/chorus-dev/chorus/channels/sms/smstest"
	"github.com/chorus-dev/chorus/channels/xmpp"
	"github.com/chorus-dev/chorus/channels/xmpp/xmpptest"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/store"
)

// textWorkers is how many people talk at once in (e) and (f).
const textWorkers = 16

// echoTurns is how many turns one person takes before another takes its
// place (the echo app ends a conversation after 100).
const echoTurns = 90

// bindEcho uploads the echo sample and binds it to network:address.
func (r *rig) bindEcho(n channels.Network, address, route string) error {
	ctx := context.Background()
	echo, err := apps.Get("echo")
	if err != nil {
		return err
	}
	app, _, _, err := r.st.PutVersion(ctx, r.acct.ID, "echo", store.Version{Kind: "bundle", Files: echo.Files})
	if err != nil {
		return err
	}
	if _, err := r.st.AddAddress(ctx, store.AddressRecord{Network: string(n), Address: address, AccountID: r.acct.ID, AppID: app.ID, Route: route}); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	r.eng.Invalidate()
	return nil
}

// roundTrips runs textWorkers people for d: each sends a message, waits for
// its echo, and sends the next. It returns round trips per second.
func roundTrips(d time.Duration, exchange func(ctx context.Context, worker, gen, turn int) error) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	deadline := time.Now().Add(d)
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, textWorkers)
	start := time.Now()
	for w := 0; w < textWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if err := exchange(ctx, w, i/echoTurns, i%echoTurns); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(done.Load()) / elapsed.Seconds(), nil
}

// benchSMPP is figure (f): round trips through the echo app over SMPP, the
// person's phone being the npm SMSC (e2e/smsc.mjs).
func benchSMPP(r *rig) {
	smsc, err := smstest.Launch("bench", "bench-pw")
	if err != nil {
		fail(err)
	}
	defer smsc.Close()
	const number = "+15550009999"
	if err := r.bindEcho(channels.SMS, number, "main"); err != nil {
		fail(err)
	}
	ch, err := sms.New(sms.Config{
		Handler: r.eng,
		NewID:   engine.NewID,
		SMPP:    []sms.SMPPConfig{{Name: "main", Addr: smsc.Addr(), SystemID: "bench", Password: "bench-pw", SubmitPerSecond: 100000, Window: 64}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fail(err)
	}
	ch.SetNumbers([]sms.Number{{Number: number, Route: "main"}})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = ch.Serve(ctx) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = ch.Shutdown(sctx)
		cancel()
		<-served
	}()
	if err := waitConnected(func() string { s, _, _ := ch.State(number); return s }); err != nil {
		fail(fmt.Errorf("(f): %w", err))
	}
	rate, err := roundTrips(*duration, func(ctx context.Context, w, gen, turn int) error {
		phone := fmt.Sprintf("+1407%03d%04d", gen%1000, w)
		text := fmt.Sprintf("turn %d", turn)
		smsc.MO(phone, number, text)
		got, _, err := smsc.NextText(ctx, phone)
		if err != nil {
			return fmt.Errorf("(f): no echo to %s: %w", phone, err)
		}
		if got != "You said: "+text {
			return fmt.Errorf("(f): %s got %q, want the echo of %q", phone, got, text)
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
	fmt.Printf("(f) SMPP round trips:        %8.0f /s      through the echo app and the npm SMSC (%d phones, each waits for its echo)\n", rate, textWorkers)
}

// waitConnected waits up to 15 s for a channel address to connect.
func waitConnected(state func() string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := state()
		if s == "connected" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not connected after 15 s (state %s)", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchXMPP is figure (e): round trips through the echo app over XMPP
// (people -> Prosody -> Chorus's account connection -> the app -> back),
// against the same number of plain client pairs echoing each other through
// the same Prosody in the same run.
func benchXMPP(r *rig) {
	p, err := xmpptest.Launch(xmpptest.Options{})
	if err != nil {
		fail(err)
	}
	defer p.Close()
	users := []string{"echo"}
	for w := 0; w < textWorkers; w++ {
		users = append(users, fmt.Sprintf("person%d", w), fmt.Sprintf("peer%d", w))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	sem := make(chan struct{}, 4) // prosodyctl starts a Lua VM each time
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := p.RegisterErr(u, u+"-pw"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fail(err)
	}
	dial := func(u string) *xmpptest.Client {
		c, err := xmpptest.DialErr(p.C2S, p.JID(u), u+"-pw")
		if err != nil {
			fail(fmt.Errorf("(e): log in as %s: %w", u, err))
		}
		return c
	}
	people := make([]*xmpptest.Client, textWorkers)
	for w := range people {
		people[w] = dial(fmt.Sprintf("person%d", w))
		defer people[w].Close()
	}
	// exchange sends text to `to` and waits for want from it.
	exchange := func(ctx context.Context, c *xmpptest.Client, to, text, want string) error {
		if err := c.Send(to, text); err != nil {
			return err
		}
		for {
			from, got, err := c.Next(ctx)
			if err != nil {
				return fmt.Errorf("(e): waiting for %q from %s: %w", want, to, err)
			}
			if bare, _, _ := strings.Cut(from, "/"); bare == to && got == want {
				return nil
			}
		}
	}

	// The reference: person w and peer w, the peer echoing like the app.
	ctx, cancel := context.WithCancel(context.Background())
	var peers sync.WaitGroup
	for w := 0; w < textWorkers; w++ {
		peer := dial(fmt.Sprintf("peer%d", w))
		defer peer.Close()
		peers.Add(1)
		go func() {
			defer peers.Done()
			for {
				from, text, err := peer.Next(ctx)
				if err != nil {
					return
				}
				_ = peer.Send(from, "You said: "+text)
			}
		}()
	}
	plain, err := roundTrips(*duration, func(ctx context.Context, w, gen, turn int) error {
		text := fmt.Sprintf("g%d t%d", gen, turn)
		return exchange(ctx, people[w], p.JID(fmt.Sprintf("peer%d", w)), text, "You said: "+text)
	})
	cancel()
	if err != nil {
		fail(err)
	}

	// Chorus: the echo app on its own account.
	bot := p.JID("echo")
	if err := r.bindEcho(channels.XMPP, bot, ""); err != nil {
		fail(err)
	}
	ch, err := xmpp.New(xmpp.Config{Handler: r.eng, NewID: engine.NewID, AllowPlaintext: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fail(err)
	}
	ch.SetAccounts([]xmpp.Account{{JID: bot, Password: "echo-pw", Server: p.C2S}})
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = ch.Serve(sctx) }()
	defer func() {
		tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer tcancel()
		_ = ch.Shutdown(tctx)
		stop()
		<-served
	}()
	if err := waitConnected(func() string { s, _, _ := ch.State(bot); return s }); err != nil {
		fail(fmt.Errorf("(e): %w", err))
	}
	// A new conversation every echoTurns turns: the echo app ends its
	// conversation after 100, and "bye" ends it here first.
	ours, err := roundTrips(*duration, func(ctx context.Context, w, gen, turn int) error {
		text := fmt.Sprintf("g%d t%d", gen, turn)
		if err := exchange(ctx, people[w], bot, text, "You said: "+text); err != nil {
			return err
		}
		if turn == echoTurns-1 {
			return exchange(ctx, people[w], bot, "bye", "Goodbye!")
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
	peers.Wait()
	fmt.Printf("(e) XMPP round trips:        %8.0f /s      two plain clients echoing through the same Prosody %8.0f /s   ratio %.2f   (target >= 0.5; %d people)\n", ours, plain, ours/plain, textWorkers)
}
