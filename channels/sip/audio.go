package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/chorus-dev/chorus/channels/sip/tts"
)

// Bounds on audio fetched from a URL.
const (
	maxAudioURLBytes = 20 << 20
	audioURLTimeout  = 15 * time.Second
)

// audioClient fetches say("https://...wav"); it refuses redirects to other
// schemes.
var audioClient = &http.Client{
	Timeout: audioURLTimeout,
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %s is not allowed", req.URL.Scheme)
		}
		return nil
	},
}

// audio returns the 8 kHz s16le PCM Play streams for text: a WAV URL's
// samples or speech.
func (c *Channel) audio(ctx context.Context, text, voice string) ([]byte, error) {
	lower := strings.ToLower(text)
	switch {
	case strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"):
		return fetchWAV(ctx, text)
	case strings.HasPrefix(lower, "asset:"):
		return nil, fmt.Errorf("sip: %q: asset URLs must be resolved to a URL before they reach the SIP channel", text)
	}
	if c.cfg.TTS == nil {
		return nil, errors.New("sip: no text-to-speech engine is configured (sip.tts); the app can only play audio URLs")
	}
	a, err := c.cfg.TTS.Speak(ctx, text, voice)
	if err != nil {
		return nil, fmt.Errorf("sip: speaking %q: %w", cut(text, 64), err)
	}
	return a.PCM, nil
}

// fetchWAV downloads a WAV file (bounded) and converts it to 8 kHz mono.
func fetchWAV(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, audioURLTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("sip: audio URL %q: %w", cut(url, 128), err)
	}
	req.Header.Set("Accept", "audio/wav, audio/x-wav, audio/*")
	res, err := audioClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sip: fetching audio %q: %w", cut(url, 128), err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sip: fetching audio %q: HTTP %d", cut(url, 128), res.StatusCode)
	}
	if res.ContentLength > maxAudioURLBytes {
		return nil, fmt.Errorf("sip: audio %q is %d bytes, more than %d", cut(url, 128), res.ContentLength, maxAudioURLBytes)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAudioURLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sip: fetching audio %q: %w", cut(url, 128), err)
	}
	if len(data) > maxAudioURLBytes {
		return nil, fmt.Errorf("sip: audio %q is larger than %d bytes", cut(url, 128), maxAudioURLBytes)
	}
	a, err := tts.LoadWAV(strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("sip: audio %q: %w (only PCM WAV files can be played)", cut(url, 128), err)
	}
	return a.PCM, nil
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
