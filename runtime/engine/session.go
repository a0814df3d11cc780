package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/runtime/verbs"
	"github.com/chorus-dev/chorus/store"
)

const (
	maxTranscript     = 2000
	maxTranscriptText = 4096
)

// live is a session running on this node.
type live struct {
	mu      sync.Mutex
	rec     store.Session
	waiting int // > 0 while blocked in a verb that waits for the person
	sess    *sandbox.Session
	stopped error // cause given to stop before the sandbox session existed
}

func (l *live) snapshot() store.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snapshotLocked()
}

func (l *live) snapshotLocked() store.Session {
	s := l.rec
	s.Transcript = append([]store.TranscriptEntry(nil), l.rec.Transcript...)
	if s.State != "ended" {
		s.State = "running"
		if l.waiting > 0 {
			s.State = "waiting"
		}
	}
	return s
}

func (l *live) add(dir, kind, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.Transcript = appendEntry(l.rec.Transcript, dir, kind, text)
}

// appendEntry appends one transcript line within the caps.
func appendEntry(t []store.TranscriptEntry, dir, kind, text string) []store.TranscriptEntry {
	if len(text) > maxTranscriptText {
		text = text[:maxTranscriptText] + "…"
	}
	if len(t) >= maxTranscript {
		return t
	}
	return append(t, store.TranscriptEntry{Dir: dir, Kind: kind, Text: text, At: time.Now().UTC()})
}

func (l *live) stop(cause error) {
	l.mu.Lock()
	s := l.sess
	if s == nil && l.stopped == nil {
		l.stopped = cause
	}
	l.mu.Unlock()
	if s != nil {
		s.Stop(cause)
	}
}

// setWaiting marks the session waiting for the person (ask, record, wait).
func (l *live) setWaiting(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on {
		l.waiting++
	} else {
		l.waiting--
	}
}

// run runs one session to its end. conv is nil for a launched session.
// register records a new session as live (in memory and, queued, in the
// store) before it runs, so that its id can be looked up at once.
func (e *Engine) register(conv channels.Conversation, rt route, params map[string]any, id string) *live {
	now := time.Now().UTC()
	l := &live{rec: store.Session{
		ID: id, AccountID: rt.AccountID, AppID: rt.AppID, AppName: rt.AppName, Version: rt.Version,
		State: "running", StartedAt: now, Params: params,
	}}
	if conv != nil {
		info := conv.Info()
		l.rec.Network = string(info.Local.Network)
		l.rec.Caller = info.Remote.ID
		l.rec.Called = info.Local.ID
		if info.InitialText != "" {
			l.add("in", "text", info.InitialText)
		}
	}
	e.liveMu.Lock()
	e.live[id] = l
	e.liveMu.Unlock()
	e.cfg.Store.SaveSession(l.snapshot())
	return l
}

// run runs a registered session to its end and records how it ended, even
// if something in Go panics on the way.
func (e *Engine) run(conv channels.Conversation, rt route, params map[string]any, l *live) {
	id := l.rec.ID
	reason, detail := "error", ""
	func() {
		defer func() {
			if r := recover(); r != nil {
				detail = fmt.Sprint("internal error: ", r)
				e.log.Error("session panicked", "app", rt.AppName, "session", id, "panic", detail, "stack", string(debug.Stack()))
				e.appLog(l, "error", "the session stopped on an internal error; it is logged on the server")
			}
		}()
		reason, detail = e.execute(conv, rt, params, l)
	}()

	// The final save is queued before the session leaves e.live, under
	// l.mu: a Note that still finds it live appends after it (and saves
	// again), one that does not reads it back from the store.
	l.mu.Lock()
	l.rec.State = "ended"
	l.rec.EndedAt = time.Now().UTC()
	l.rec.EndReason = reason
	e.cfg.Store.SaveSession(l.snapshotLocked())
	l.mu.Unlock()
	e.liveMu.Lock()
	delete(e.live, id)
	e.liveMu.Unlock()
	e.log.Debug("session ended", "app", rt.AppName, "session", id, "reason", reason, "detail", detail)
}

func (e *Engine) appLog(l *live, level, text string) {
	e.cfg.Logs.Write(store.LogLine{AccountID: l.rec.AccountID, App: l.rec.AppName, Session: l.rec.ID, Level: level, Text: text})
}

// execute runs the script and returns the end reason.
func (e *Engine) execute(conv channels.Conversation, rt route, params map[string]any, l *live) (reason, detail string) {
	code, err := e.cache.get(e.base, rt.AppID, rt.Version)
	if err != nil {
		e.appLog(l, "error", "cannot start: "+err.Error())
		e.apologize(conv, l)
		return "error", err.Error()
	}
	cfgValues, err := e.appConfig(e.base, rt.AppID)
	if err != nil {
		e.appLog(l, "error", "cannot load the app's config: "+err.Error())
		e.apologize(conv, l)
		return "error", err.Error()
	}
	s, err := e.cfg.Sandbox.Start(e.base)
	if err != nil {
		e.appLog(l, "error", "cannot start: "+err.Error())
		e.apologize(conv, l)
		return "error", err.Error()
	}
	defer s.Close()
	l.mu.Lock()
	l.sess = s
	early := l.stopped
	l.mu.Unlock()
	if early != nil {
		s.Stop(early)
	}
	if conv != nil {
		stopWatch := e.watchConversation(conv, s)
		defer stopWatch()
	}

	rtm := &verbs.Runtime{
		Host:         s,
		Waiting:      l.setWaiting,
		Conv:         conv,
		Log:          func(level, text string) { e.appLog(l, level, text) },
		Transcript:   l.add,
		Outbound:     e.outbound(rt, l.rec.ID),
		Params:       params,
		TextTimeout:  e.cfg.TextAskTimeout,
		VoiceTimeout: e.cfg.VoiceAskTimeout,
	}
	env := s.Globals()
	rtm.Open(s.L(), env)
	e.openLibs(s, env, code, cfgValues, rt)

	runErr := s.Run(code.protos["main.lua"])
	defer rtm.Close()
	if rtm.Conv != nil {
		conv = rtm.Conv // the session may have called someone
	}
	return e.endReason(conv, l, s, runErr)
}

// watchConversation stops the session when the conversation ends from
// outside: at once for the API, shutdown and idle expiry; after
// HangupGrace when the other party left (onHangup handlers may run).
func (e *Engine) watchConversation(conv channels.Conversation, s *sandbox.Session) func() {
	var timer *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(conv.Context(), func() {
		cause := context.Cause(conv.Context())
		if errors.Is(cause, channels.ErrHangup) {
			mu.Lock()
			timer = time.AfterFunc(e.cfg.HangupGrace, func() { s.Stop(cause) })
			mu.Unlock()
			return
		}
		s.Stop(cause)
	})
	return func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
	}
}

func (e *Engine) endReason(conv channels.Conversation, l *live, s *sandbox.Session, runErr error) (string, string) {
	var convCause error
	if conv != nil {
		convCause = context.Cause(conv.Context())
	}
	either := func(target error) bool { return errors.Is(runErr, target) || errors.Is(convCause, target) }
	var lim *sandbox.LimitError
	switch {
	case errors.As(runErr, &lim):
		e.appLog(l, "error", lim.Error())
		e.apologize(conv, l)
		return "limit", lim.Error()
	case errors.Is(runErr, verbs.ErrRejectVerb):
		return "rejected", ""
	case either(ErrEndedByAPI), either(channels.ErrReleased):
		e.hangupCall(conv)
		return "ended_by_api", ""
	case either(channels.ErrShutdown):
		return "server_restart", ""
	case either(channels.ErrIdle):
		return "timeout", ""
	case errors.Is(convCause, channels.ErrHangup), errors.Is(runErr, channels.ErrHangup):
		return "hangup", ""
	case runErr == nil, errors.Is(runErr, verbs.ErrHangupVerb):
		e.hangupCall(conv)
		return "completed", ""
	}
	msg := runErr.Error()
	e.appLog(l, "error", "script error: "+msg)
	e.apologize(conv, l)
	return "error", msg
}

// apologize sends one short apology if the person is still there.
func (e *Engine) apologize(conv channels.Conversation, l *live) {
	if conv == nil || conv.Context().Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, ok := conv.(channels.Call); ok {
		if c.Answered() {
			_ = c.Play(ctx, Apology, channels.PlayOptions{})
			_ = c.Hangup(ctx)
		} else {
			_ = c.Reject(ctx, 500)
		}
		l.add("out", "speech", Apology)
		return
	}
	if err := conv.Send(ctx, Apology); err == nil {
		l.add("out", "text", Apology)
	}
}

func (e *Engine) hangupCall(conv channels.Conversation) {
	c, ok := conv.(channels.Call)
	if !ok || c.Context().Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Hangup(ctx)
}

// Note adds an entry to a session's transcript after the fact: a delivery
// receipt (kind "receipt") that arrives while the session runs or after it
// ended. It reports whether the session was found.
func (e *Engine) Note(ctx context.Context, id, dir, kind, text string) bool {
	// One note at a time: two receipts never overwrite each other.
	e.noteMu.Lock()
	defer e.noteMu.Unlock()
	e.liveMu.Lock()
	l := e.live[id]
	e.liveMu.Unlock()
	if l != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.rec.Transcript = appendEntry(l.rec.Transcript, dir, kind, text)
		if l.rec.State == "ended" { // its final save is queued: queue another
			e.cfg.Store.SaveSession(l.snapshotLocked())
		}
		return true
	}
	// Gone from e.live: its final save was queued first, and reads flush
	// the queue.
	s, err := e.cfg.Store.Session(ctx, id)
	if err != nil {
		return false
	}
	s.Transcript = appendEntry(s.Transcript, dir, kind, text)
	e.cfg.Store.SaveSession(s)
	return true
}
