package tts

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// needBinary fails (never skips) when a peer binary is missing.
func needBinary(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: apt-get install %s (scripts/test-deps.sh installs it)", name, pkg)
	}
}

func newSynth(t testing.TB, cfg Config) *Synth {
	t.Helper()
	switch cfg.Engine {
	case "", Flite:
		needBinary(t, "flite", "flite")
	case EspeakNG:
		needBinary(t, "espeak-ng", "espeak-ng")
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkSpeech checks a is 8 kHz mono speech of a plausible length, and
// that its file says so.
func checkSpeech(t *testing.T, a *Audio, minDur, maxDur time.Duration) {
	t.Helper()
	if a.Duration < minDur || a.Duration > maxDur {
		t.Errorf("duration %s, want %s..%s", a.Duration, minDur, maxDur)
	}
	if got := time.Duration(len(a.PCM)/2) * time.Second / Rate; got != a.Duration {
		t.Errorf("Duration %s but %d samples", a.Duration, len(a.PCM)/2)
	}
	if r := rms(a.PCM); r < 300 {
		t.Errorf("RMS %.0f: silence, not speech", r)
	}
	raw, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 44+len(a.PCM) || string(raw[:4]) != "RIFF" || string(raw[8:16]) != "WAVEfmt " || string(raw[36:40]) != "data" {
		t.Fatalf("cache file is not a canonical WAV: % x", raw[:min(len(raw), 44)])
	}
	le := binary.LittleEndian
	if le.Uint16(raw[20:]) != 1 || le.Uint16(raw[22:]) != 1 || le.Uint32(raw[24:]) != 8000 || le.Uint16(raw[34:]) != 16 {
		t.Errorf("cache file format: tag %d, %d channels, %d Hz, %d bits; want PCM mono 8000 Hz 16-bit",
			le.Uint16(raw[20:]), le.Uint16(raw[22:]), le.Uint32(raw[24:]), le.Uint16(raw[34:]))
	}
	if !bytes.Equal(raw[44:], a.PCM) {
		t.Error("cache file samples differ from Audio.PCM")
	}
}

func rms(pcm []byte) float64 {
	var sum float64
	n := len(pcm) / 2
	for i := range n {
		v := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
		sum += v * v
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(n))
}

// engineDuration runs the engine by hand and returns the length of what it wrote.
func engineDuration(t *testing.T, args ...string) time.Duration {
	t.Helper()
	out := filepath.Join(t.TempDir(), "raw.wav")
	cmd := exec.Command(args[0], append(args[1:], out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(len(f.data)/f.blockAlign) * time.Second / time.Duration(f.rate)
}

func TestFliteSpeaksAndCaches(t *testing.T) {
	s := newSynth(t, Config{})
	ctx := context.Background()
	const text = "Please enter a 5 digit ZIP code"
	a, err := s.Speak(ctx, text, "")
	if err != nil {
		t.Fatal(err)
	}
	checkSpeech(t, a, time.Second, 5*time.Second)
	// kal writes 8 kHz: the samples are flite's own.
	want := engineDuration(t, "flite", "-voice", "kal", "-t", text, "-o")
	if d := a.Duration - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("duration %s, flite wrote %s", a.Duration, want)
	}
	b, err := s.Speak(ctx, text, "kal") // "" is kal: the same entry
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Runs != 1 || st.Hits != 1 {
		t.Errorf("stats %+v after a miss and a hit, want 1 run and 1 hit", st)
	}
	if b.Path != a.Path || !bytes.Equal(a.PCM, b.PCM) {
		t.Error("the hit differs from the miss")
	}

	// Another Synth on the same directory (a restart) finds it too.
	s2 := newSynth(t, Config{CacheDir: s.cfg.CacheDir})
	if _, err := s2.Speak(ctx, text, ""); err != nil {
		t.Fatal(err)
	}
	if st := s2.Stats(); st.Runs != 0 || st.Hits != 1 || st.Bytes != int64(44+len(a.PCM)) {
		t.Errorf("after restart: stats %+v, want a hit without a run and %d bytes", st, 44+len(a.PCM))
	}
}

func TestFlite16kVoiceIsResampled(t *testing.T) {
	s := newSynth(t, Config{})
	const text = "The forecast for Orlando is sunny"
	a, err := s.Speak(context.Background(), text, "slt")
	if err != nil {
		t.Fatal(err)
	}
	checkSpeech(t, a, time.Second, 6*time.Second)
	want := engineDuration(t, "flite", "-voice", "slt", "-t", text, "-o")
	if d := a.Duration - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("duration %s, flite wrote %s at 16 kHz", a.Duration, want)
	}
	b, _ := s.Speak(context.Background(), text, "")
	if bytes.Equal(a.PCM, b.PCM) {
		t.Error("voices slt and kal gave the same samples: the voice is not part of the key")
	}
}

func TestEspeakNG(t *testing.T) {
	s := newSynth(t, Config{Engine: EspeakNG})
	const text = "Please enter a 5 digit ZIP code"
	a, err := s.Speak(context.Background(), text, "")
	if err != nil {
		t.Fatal(err)
	}
	checkSpeech(t, a, time.Second, 5*time.Second)
	want := engineDuration(t, "espeak-ng", "-v", "en-us", text, "-w")
	if d := a.Duration - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("duration %s, espeak-ng wrote %s at 22.05 kHz", a.Duration, want)
	}
	if _, err := s.Speak(context.Background(), text, "en+f3"); err != nil {
		t.Errorf("voice with variant: %v", err)
	}
	_, err = s.Speak(context.Background(), text, "nosuchvoice")
	if !errors.Is(err, ErrUnknownVoice) {
		t.Errorf("unknown espeak-ng voice: %v, want ErrUnknownVoice", err)
	}
	// Text that looks like options is spoken, not obeyed.
	if a, err := s.Speak(context.Background(), "-w /tmp/x.wav --stdout", ""); err != nil || a.Duration < 500*time.Millisecond {
		t.Errorf("option-like text: %v", err)
	}
	if st := s.Stats(); st.Runs != 4 {
		t.Errorf("%d runs, want 4", st.Runs)
	}
}

func TestMissingBinary(t *testing.T) {
	_, err := New(Config{CacheDir: t.TempDir(), Binary: "/nonexistent/flite"})
	if err == nil || !strings.Contains(err.Error(), "apt-get install flite") {
		t.Errorf("missing binary: %v, want an install hint", err)
	}
	_, err = New(Config{CacheDir: t.TempDir(), Engine: "festival"})
	if err == nil {
		t.Error("unknown engine accepted")
	}
	_, err = New(Config{})
	if err == nil {
		t.Error("no CacheDir accepted")
	}
	_, err = New(Config{CacheDir: t.TempDir(), Voice: "nosuch"})
	if !errors.Is(err, ErrUnknownVoice) {
		t.Errorf("unknown Config.Voice: %v", err)
	}
}

func TestVoiceAndTextChecks(t *testing.T) {
	s := newSynth(t, Config{MaxText: 100})
	ctx := context.Background()
	for _, v := range []string{"nosuch", "../kal", "/usr/share/x.flitevox", "http://example.com/x.flitevox", "-lv", "kal slt", strings.Repeat("k", 65)} {
		if _, err := s.Speak(ctx, "hello", v); !errors.Is(err, ErrUnknownVoice) {
			t.Errorf("voice %q: %v, want ErrUnknownVoice", v, err)
		}
	}
	if _, err := s.Speak(ctx, strings.Repeat("a", 101), ""); !errors.Is(err, ErrTextTooLong) {
		t.Errorf("101 bytes: %v, want ErrTextTooLong", err)
	}
	for _, text := range []string{"", "   ", "\x00\n\t\r"} {
		if _, err := s.Speak(ctx, text, ""); !errors.Is(err, ErrNoText) {
			t.Errorf("text %q: %v, want ErrNoText", text, err)
		}
	}
	// NUL, newlines, option-like and invalid UTF-8 text is spoken.
	for _, text := range []string{"-o /tmp/evil.wav", "hello\x00world", "line one\nline two", "caf\xe9 au lait", "$(touch /tmp/pwned) `id`"} {
		a, err := s.Speak(ctx, text, "")
		if err != nil {
			t.Errorf("text %q: %v", text, err)
			continue
		}
		if a.Duration < 300*time.Millisecond {
			t.Errorf("text %q: only %s of speech", text, a.Duration)
		}
	}
	if _, err := os.Stat("/tmp/evil.wav"); err == nil {
		t.Error("option-like text was obeyed: /tmp/evil.wav exists")
	}
	if st := s.Stats(); st.Runs != 5 {
		t.Errorf("%d engine runs, want 5 (the refused ones run nothing)", st.Runs)
	}
}

func TestConcurrentSpeakRunsOnce(t *testing.T) {
	s := newSynth(t, Config{})
	// slt takes some 100 ms for this, so the callers overlap the run.
	const text = "Thank you for calling. The weather service will now read the forecast for your area."
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	res := make([]*Audio, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			res[i], errs[i] = s.Speak(context.Background(), text, "slt")
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(res[i].PCM, res[0].PCM) {
			t.Fatalf("caller %d got other samples", i)
		}
	}
	if st := s.Stats(); st.Runs != 1 || st.Shared == 0 || st.Shared+st.Hits != n-1 {
		t.Errorf("%d concurrent Speaks of one key: %+v, want one run that the others shared (or hit)", n, st)
	}
	// Different keys at once all succeed, each once.
	texts := []string{"one", "two", "three", "four"}
	for i := range 3 * len(texts) {
		wg.Go(func() {
			if _, err := s.Speak(context.Background(), texts[i%len(texts)], ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Runs != 1+int64(len(texts)) {
		t.Errorf("%d runs, want %d", st.Runs, 1+len(texts))
	}
}

func TestEviction(t *testing.T) {
	dir := t.TempDir()
	// Not a cache entry: never touched.
	other := filepath.Join(dir, "notes.wav")
	os.WriteFile(other, make([]byte, 100000), 0o644)
	s := newSynth(t, Config{CacheDir: dir})
	ctx := context.Background()
	words := []string{"alpha", "bravo charlie delta echo foxtrot", "charlie"}
	var paths []string
	var total int64
	for i, w := range words {
		a, err := s.Speak(ctx, w, "")
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, a.Path)
		total += int64(44 + len(a.PCM))
		old := time.Now().Add(time.Duration(i-10) * time.Minute) // alpha oldest
		os.Chtimes(a.Path, old, old)
	}
	// A hit makes alpha the most recent.
	if _, err := s.Speak(ctx, "alpha", ""); err != nil {
		t.Fatal(err)
	}
	// Room for the three and a bit: the fourth must push out one, bravo
	// (long: removing it makes room).
	s.cfg.MaxBytes = total + 1000
	a, err := s.Speak(ctx, "golf", "")
	if err != nil {
		t.Fatal(err)
	}
	// Eviction runs after the Speak returns, in the run's goroutine.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Evictions == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if exists(paths[1]) {
		t.Error("bravo, the least recently used, was not evicted")
	}
	for _, p := range []string{paths[0], paths[2], a.Path, other} {
		if !exists(p) {
			t.Errorf("%s was removed", filepath.Base(p))
		}
	}
	st := s.Stats()
	if st.Evictions != 1 || st.Bytes > s.cfg.MaxBytes {
		t.Errorf("stats %+v, want 1 eviction and at most %d bytes", st, s.cfg.MaxBytes)
	}
	// bravo again is a miss that synthesises.
	runs := st.Runs
	if _, err := s.Speak(ctx, words[1], ""); err != nil {
		t.Fatal(err)
	}
	if s.Stats().Runs != runs+1 {
		t.Error("an evicted entry did not run the engine again")
	}

	// A cache smaller than one entry keeps the newest entry anyway.
	s3 := newSynth(t, Config{CacheDir: t.TempDir(), MaxBytes: 10})
	a3, err := s3.Speak(ctx, "a prompt larger than the cache", "")
	if err != nil {
		t.Fatal(err)
	}
	s3.Close() // waits for the eviction
	if !exists(a3.Path) {
		t.Error("the only entry was evicted")
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	long := strings.Repeat("This sentence is long enough to keep the engine busy for a while. ", 60)
	s := newSynth(t, Config{Timeout: 100 * time.Millisecond})
	t0 := time.Now()
	_, err := s.Speak(context.Background(), long, "slt")
	if !errors.Is(err, ErrEngine) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("engine past its timeout: %v, want ErrEngine and DeadlineExceeded", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("timeout of 100 ms took %s", d)
	}

	s2 := newSynth(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = s2.Speak(ctx, long, "slt")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled Speak: %v", err)
	}
	t1 := time.Now()
	s2.Close() // the run lost its only waiter: it is already stopping
	if d := time.Since(t1); d > 3*time.Second {
		t.Errorf("Close took %s", d)
	}
	if n := len(s2.entries(false)); n != 0 {
		t.Errorf("%d cache entries after a cancelled run", n)
	}
	if _, err := s2.Speak(context.Background(), "hello", ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Speak after Close: %v", err)
	}
}

func TestBrokenCacheEntryIsReplaced(t *testing.T) {
	s := newSynth(t, Config{})
	a, err := s.Speak(context.Background(), "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a.Path, []byte("garbage"), 0o644)
	b, err := s.Speak(context.Background(), "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.PCM, b.PCM) || s.Stats().Runs != 2 {
		t.Errorf("broken entry: runs %d, same samples %v", s.Stats().Runs, bytes.Equal(a.PCM, b.PCM))
	}
}

// TestMemoryCache: a hit is served from memory (the same Audio, the file
// not read again) while its file is unchanged; the memory is bounded, and
// a file changed behind the cache's back is read again.
func TestMemoryCache(t *testing.T) {
	s := newSynth(t, Config{})
	ctx := context.Background()
	a, err := s.Speak(ctx, "one two three", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Speak(ctx, "one two three", "")
	if err != nil {
		t.Fatal(err)
	}
	if b != a {
		t.Error("a hit read the file again instead of using the samples in memory")
	}
	if st := s.Stats(); st.Hits != 1 || st.Runs != 1 || st.MemBytes != int64(len(a.PCM)) {
		t.Errorf("stats %+v, want 1 hit, 1 run, %d bytes in memory", st, len(a.PCM))
	}
	// Another process rewrites the entry (same samples): read again.
	raw, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	os.WriteFile(a.Path, raw, 0o644)
	os.Chtimes(a.Path, later, later)
	c, err := s.Speak(ctx, "one two three", "")
	if err != nil {
		t.Fatal(err)
	}
	if c == a || !bytes.Equal(c.PCM, a.PCM) {
		t.Error("a rewritten entry was served from memory, or read wrong")
	}

	// Room for one prompt: the other is read from disk.
	d, err := s.Speak(ctx, "four five six", "")
	if err != nil {
		t.Fatal(err)
	}
	bound := int64(max(len(a.PCM), len(d.PCM)) + 100)
	small := newSynth(t, Config{CacheDir: t.TempDir(), MemBytes: bound})
	x, err := small.Speak(ctx, "one two three", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Speak(ctx, "four five six", ""); err != nil {
		t.Fatal(err)
	}
	y, err := small.Speak(ctx, "one two three", "")
	if err != nil {
		t.Fatal(err)
	}
	if y == x || !bytes.Equal(x.PCM, y.PCM) {
		t.Error("memory past its bound still held the first prompt, or the disk hit differs")
	}
	if st := small.Stats(); st.MemBytes > bound || st.Hits != 1 || st.Runs != 2 {
		t.Errorf("stats %+v, want at most %d bytes in memory, 1 hit, 2 runs", st, bound)
	}
}
