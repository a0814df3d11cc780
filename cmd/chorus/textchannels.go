package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/channels/sms"
	"github.com/chorus-dev/chorus/channels/thread"
	"github.com/chorus-dev/chorus/channels/xmpp"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/store"
)

// newXMPP builds the XMPP channel from the xmpp: section.
func (s *server) newXMPP(fc *fileConfig) (*xmpp.Channel, error) {
	cfg := xmpp.Config{
		Handler:        s.eng,
		NewID:          engine.NewID,
		AllowPlaintext: fc.XMPP.AllowPlaintext,
		Resolve:        s.eng.Resolve,
		Logger:         s.log.With("channel", "xmpp"),
	}
	for _, c := range fc.XMPP.Components {
		cfg.Components = append(cfg.Components, xmpp.Component{Domain: strings.ToLower(c.Domain), Server: c.Server, Secret: c.Secret})
	}
	return xmpp.New(cfg)
}

// newSMS builds the SMS channel from the sms: section. Delivery receipts
// go to the transcript of the session that sent the message.
func (s *server) newSMS(fc *fileConfig) (*sms.Channel, error) {
	cfg := sms.Config{
		Handler: s.eng,
		NewID:   engine.NewID,
		Receipt: func(ctx context.Context, sessionID, text string) {
			if !s.eng.Note(ctx, sessionID, "in", "receipt", text) {
				s.log.Info("sms: delivery receipt for a session no longer known", "session", sessionID, "receipt", text)
			}
		},
		Logger: s.log.With("channel", "sms"),
	}
	for _, l := range fc.SMS.SMPP {
		cfg.SMPP = append(cfg.SMPP, sms.SMPPConfig{Name: l.Name, Addr: l.Addr, SystemID: l.SystemID, Password: l.Password,
			SystemType: l.SystemType, SubmitPerSecond: l.SubmitPerSecond, Window: l.Window})
	}
	for _, h := range fc.SMS.HTTP {
		cfg.HTTP = append(cfg.HTTP, sms.HTTPConfig{Name: h.Name, BaseURL: h.BaseURL, Account: h.Account, Token: h.Token, WebhookPath: h.WebhookPath})
	}
	return sms.New(cfg)
}

// componentDomain reports whether the JID's domain is one of the XMPP
// component domains (its addresses need no credentials).
func componentDomain(fc *fileConfig, jid string) bool {
	_, domain, _ := strings.Cut(jid, "@")
	for _, c := range fc.XMPP.Components {
		if strings.EqualFold(c.Domain, domain) {
			return true
		}
	}
	return false
}

// checkAddress refuses the addresses this server cannot serve as given.
func (s *server) checkAddress(fc *fileConfig) func(network, address, route string, creds map[string]any) error {
	return func(network, address, route string, creds map[string]any) error {
		switch channels.Network(network) {
		case channels.XMPP:
			if creds == nil && !componentDomain(fc, address) {
				_, domain, _ := strings.Cut(address, "@")
				return fmt.Errorf(`xmpp address %s needs credentials {"password"}: %s is not a component domain of this server`, address, domain)
			}
		case channels.SMS:
			if !s.sms.RouteExists(route) {
				var names []string
				for _, l := range fc.SMS.SMPP {
					names = append(names, l.Name)
				}
				for _, h := range fc.SMS.HTTP {
					names = append(names, h.Name)
				}
				if len(names) == 0 {
					return fmt.Errorf("sms route %q is not configured on this server: it has no sms routes (sms.smpp or sms.http in its config)", route)
				}
				return fmt.Errorf("sms route %q is not configured on this server (configured: %s)", route, strings.Join(names, ", "))
			}
		}
		return nil
	}
}

// threads are the text conversations of a network's channel (nil: none).
func (s *server) threads(n channels.Network) *thread.Threads {
	switch n {
	case channels.Web:
		return s.web.Threads()
	case channels.XMPP:
		return s.xmpp.Threads()
	case channels.SMS:
		return s.sms.Threads()
	case channels.SIP:
		if s.sip != nil {
			return s.sip.Threads()
		}
	}
	return nil
}

// addressState is the live state of an address for GET /v1/addresses.
func (s *server) addressState(network, address string) (string, string, time.Time) {
	switch channels.Network(network) {
	case channels.Web:
		return "connected", "", time.Time{}
	case channels.XMPP:
		return s.xmpp.State(address)
	case channels.SMS:
		return s.sms.State(address)
	case channels.SIP:
		if s.sip != nil {
			return "connected", "", time.Time{}
		}
		return "disabled", "the SIP channel is off on this server (--sip off)", time.Time{}
	}
	return "disabled", "the " + network + " channel is not part of this server yet", time.Time{}
}

// addressSync hands the XMPP accounts and SMS numbers bound in the store to
// their channels, at start and after every change through the API.
type addressSync struct {
	mu   sync.Mutex
	s    *server
	err  error                      // the last failure, logged once
	prev map[channels.Address]int64 // address -> app at the last sync
}

func (a *addressSync) sync(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	recs, err := a.s.st.ListAddresses(ctx, 0)
	if err != nil {
		if a.err == nil || a.err.Error() != err.Error() {
			a.s.log.Error("cannot list addresses for the XMPP and SMS channels; they keep the previous set", "err", err)
		}
		a.err = err
		return
	}
	a.err = nil
	cur := make(map[channels.Address]int64, len(recs))
	for _, r := range recs {
		cur[channels.Address{Network: channels.Network(r.Network), ID: r.Address}] = r.AppID
	}
	// Conversations on an address that was released (or now belongs to
	// another app) end: the old app must not go on answering there.
	for addr, app := range a.prev {
		if cur[addr] == app {
			continue
		}
		if th := a.s.threads(addr.Network); th != nil {
			if n := th.EndLocal(addr, channels.ErrReleased); n > 0 {
				a.s.log.Info("address released: its live conversations ended", "address", addr.String(), "conversations", n)
			}
		}
	}
	a.prev = cur
	var accts []xmpp.Account
	var numbers []sms.Number
	for _, r := range recs {
		switch channels.Network(r.Network) {
		case channels.XMPP:
			if acct, ok := a.account(r); ok {
				accts = append(accts, acct)
			}
		case channels.SMS:
			numbers = append(numbers, sms.Number{Number: r.Address, Route: r.Route})
		}
	}
	slices.SortFunc(accts, func(x, y xmpp.Account) int { return strings.Compare(x.JID, y.JID) })
	a.s.xmpp.SetAccounts(accts)
	a.s.sms.SetNumbers(numbers)
}

// account turns an xmpp address with credentials into an Account; JIDs of
// component domains have none and are served by the component.
func (a *addressSync) account(r store.AddressRecord) (xmpp.Account, bool) {
	if len(r.Credentials) == 0 {
		return xmpp.Account{}, false
	}
	var c struct {
		Password string `json:"password"`
		Server   string `json:"server"`
	}
	if err := json.Unmarshal(r.Credentials, &c); err != nil {
		a.s.log.Error("xmpp address has unreadable credentials; bind it again", "address", r.Address)
		return xmpp.Account{}, false
	}
	return xmpp.Account{JID: r.Address, Password: c.Password, Server: c.Server}, true
}
