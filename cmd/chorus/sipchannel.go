package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-dev/chorus/channels/sip"
	"github.com/chorus-dev/chorus/channels/sip/flood"
	"github.com/chorus-dev/chorus/channels/sip/tts"
	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/store"
)

// newSIP builds the SIP channel from the sip: section (listen is the
// resolved --sip / CHORUS_SIP / sip.listen).
func (s *server) newSIP(fc *fileConfig, data, listen string) (*sip.Channel, error) {
	lo, hi, err := fc.SIP.ports()
	if err != nil {
		return nil, err
	}
	var tlsConf *tls.Config
	if fc.SIP.TLSListen != "" {
		if fc.SIP.TLSCert == "" || fc.SIP.TLSKey == "" {
			return nil, fmt.Errorf("sip: tls_listen %s needs tls_cert and tls_key (PEM files)", fc.SIP.TLSListen)
		}
		cert, err := tls.LoadX509KeyPair(fc.SIP.TLSCert, fc.SIP.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("sip: loading tls_cert %s and tls_key %s: %w", fc.SIP.TLSCert, fc.SIP.TLSKey, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	engineName := fc.SIP.TTS
	if engineName == "" {
		engineName = "flite"
	}
	synth, err := tts.New(tts.Config{Engine: engineName, CacheDir: filepath.Join(data, "tts"), Logger: s.log.With("part", "tts")})
	if err != nil {
		// Calls are still answered (keys, recordings, transfers work);
		// only spoken prompts fail, each with this reason in the app log.
		s.log.Warn("sip: no text-to-speech, calls cannot hear prompts: install the engine (apt-get install "+engineName+") or set sip.tts", "err", err)
		synth = nil
	}
	s.tts = synth
	domain := fc.SIP.Domain
	if domain == "" {
		domain = "localhost"
	}
	perSource := fc.Limits.SIPPerSource.perSecond()
	if perSource == 0 {
		perSource = 50
	}
	return sip.New(sip.Config{
		Handler:       s.eng,
		NewID:         engine.NewID,
		Listen:        listen,
		TLSListen:     fc.SIP.TLSListen,
		TLSConfig:     tlsConf,
		WSListen:      fc.SIP.WSListen,
		Domain:        domain,
		RTPPorts:      [2]int{lo, hi},
		TTS:           synth, // nil: Play of text fails with a clear error
		RTPTimeout:    fc.SIP.RTPTimeout.Duration,
		RTPLatch:      fc.SIP.RTPLatch,
		Resolve:       s.eng.Resolve,
		SaveRecording: s.saveRecording,
		Flood:         flood.New(flood.Config{PerSecond: perSource}),
		Logger:        s.log.With("channel", "sip"),
	})
}

// saveRecording stores a call's recording with its session and returns
// the URL the app sees as recordURI.
func (s *server) saveRecording(ctx context.Context, sessionID string, wav []byte) (string, error) {
	live, ok := s.eng.Live(sessionID)
	if !ok {
		return "", fmt.Errorf("recording of session %s: the session is not live on this server", sessionID)
	}
	id := engine.NewID()
	dur := time.Duration(0)
	if len(wav) > 44 {
		dur = time.Duration(len(wav)-44) * time.Second / 16000 // 8 kHz, 16-bit mono
	}
	if err := s.st.SaveRecording(ctx, store.Recording{ID: id, AccountID: live.AccountID, SessionID: sessionID, AppName: live.AppName, Duration: dur, WAV: wav}); err != nil {
		return "", err
	}
	return s.baseURL() + "/v1/recordings/" + id, nil
}

// baseURL is where this server's API answers (for recordURI).
func (s *server) baseURL() string {
	if s.ln == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(s.ln.Addr().String())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}
