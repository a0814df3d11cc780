package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-dev/chorus/apps"
	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms"
	"github.com/chorus-dev/chorus/channels/sms/smstest"
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
