package tts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Engines.
const (
	Flite    = "flite"
	EspeakNG = "espeak-ng"
)

// Default voices: flite's own default (a diphone voice recorded at 8 kHz,
// so nothing is resampled) and espeak-ng's American English.
const (
	DefaultFliteVoice  = "kal"
	DefaultEspeakVoice = "en-us"
)

// Errors Speak returns (wrapped, with the details).
var (
	// ErrUnknownVoice: the engine has no such voice. Speak does not fall
	// back to the default voice: the caller decides (say() retries with "").
	ErrUnknownVoice = errors.New("tts: unknown voice")
	// ErrTextTooLong: the text is longer than Config.MaxText bytes.
	ErrTextTooLong = errors.New("tts: text too long")
	// ErrNoText: nothing to say (empty or only spaces and control characters).
	ErrNoText = errors.New("tts: no text")
	// ErrEngine: the engine failed, timed out or wrote no usable WAV.
	ErrEngine = errors.New("tts: engine failed")
	// ErrClosed: Speak after Close.
	ErrClosed = errors.New("tts: synthesiser closed")
)

// Config configures a Synth.
type Config struct {
	// Engine is "flite" (default) or "espeak-ng".
	Engine string
	// CacheDir holds the WAV cache (required; created if missing). Entries
	// are named by sha256(engine, voice, text). Several Synths, also in
	// several processes, may share a directory.
	CacheDir string
	// MaxBytes bounds the cache (default 256 MiB). Past it the entries
	// used longest ago (by mtime, which a hit refreshes) are removed.
	MaxBytes int64
	// MemBytes bounds the samples of recently spoken prompts kept in
	// memory in front of the disk cache (default 64 MiB; negative: none),
	// so a hit does not read and parse the WAV again. The disk stays the
	// truth: a hit checks with one stat(2) that the file is unchanged.
	MemBytes int64
	// Voice is the voice for Speak(ctx, text, "") (default "kal" for
	// flite, "en-us" for espeak-ng).
	Voice string
	// MaxText bounds the text of one Speak in bytes (default 4 KiB).
	MaxText int
	// Timeout bounds one engine run (default 30 s; 4 KiB of text takes
	// flite's slt voice about 6 s on one slow core).
	Timeout time.Duration
	// Binary is the engine's executable (default: Engine looked up in PATH).
	Binary string
	Logger *slog.Logger
}

// Synth turns text into speech through a Debian TTS engine, cached on disk.
// It is safe for concurrent use.
type Synth struct {
	cfg    Config
	bin    string
	voices []string // flite: what -lv lists; espeak-ng: not listed, checked by the engine
	log    *slog.Logger

	base context.Context // cancelled by Close; parent of every engine run
	stop context.CancelFunc
	wg   sync.WaitGroup // engine runs

	mu      sync.Mutex
	flights map[string]*flight
	bytes   int64 // cache size as far as this Synth knows; rescanned on eviction
	closed  bool

	mem *memCache

	hits, runs, shared, evictions atomic.Int64
}

// flight is one engine run that every Speak of the same key waits for.
type flight struct {
	done    chan struct{}
	audio   *Audio
	err     error
	waiters int                // Speaks still waiting; the run is cancelled at 0
	cancel  context.CancelFunc // of the run
}

// Stats counts what a Synth did.
type Stats struct {
	Hits      int64 // Speaks answered from the cache
	Runs      int64 // engine runs (misses that synthesised)
	Shared    int64 // Speaks that waited for a run another Speak started
	Evictions int64 // cache files removed to stay under MaxBytes
	Bytes     int64 // cache size after the last write or eviction
	MemBytes  int64 // samples held in memory (Config.MemBytes)
}

// New checks the engine and the cache directory. It fails, saying what to
// install, when the engine's binary is missing.
func New(cfg Config) (*Synth, error) {
	if cfg.Engine == "" {
		cfg.Engine = Flite
	}
	if cfg.Engine != Flite && cfg.Engine != EspeakNG {
		return nil, fmt.Errorf("tts: unknown engine %q (use %q or %q)", cfg.Engine, Flite, EspeakNG)
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("tts: Config.CacheDir is required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 20
	}
	if cfg.MemBytes == 0 {
		cfg.MemBytes = 64 << 20
	}
	if cfg.MaxText <= 0 {
		cfg.MaxText = 4 << 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Voice == "" {
		cfg.Voice = DefaultFliteVoice
		if cfg.Engine == EspeakNG {
			cfg.Voice = DefaultEspeakVoice
		}
	}
	bin := cfg.Binary
	if bin == "" {
		bin = cfg.Engine
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("tts: %s not found (%v): install it (Debian: apt-get install %s)", bin, err, cfg.Engine)
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("tts: cache directory: %w", err)
	}
	s := &Synth{cfg: cfg, bin: path, log: cfg.Logger.With("tts", cfg.Engine), flights: map[string]*flight{}, mem: newMemCache(cfg.MemBytes)}
	if cfg.Engine == Flite {
		if s.voices, err = fliteVoices(path); err != nil {
			return nil, err
		}
	}
	if err := s.checkVoice(cfg.Voice); err != nil {
		return nil, fmt.Errorf("tts: Config.Voice: %w", err)
	}
	s.base, s.stop = context.WithCancel(context.Background())
	s.bytes = s.scan(true)
	return s, nil
}

// fliteVoices lists the voices compiled into flite ("Voices available: kal ...").
func fliteVoices(bin string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-lv").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("tts: %s -lv: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	_, list, ok := strings.Cut(string(out), ":")
	voices := strings.Fields(list)
	if !ok || len(voices) == 0 {
		return nil, fmt.Errorf("tts: %s -lv listed no voices: %q", bin, out)
	}
	return voices, nil
}

// Voices lists flite's voices; for espeak-ng it returns nil (any name
// `espeak-ng --voices` shows, or language+variant such as "en+f3").
func (s *Synth) Voices() []string { return slices.Clone(s.voices) }

// A voice is a name, never a path or an option: flite would load a
// .flitevox file or URL given as -voice, and espeak-ng reads voice files.
var voiceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_+-]{0,63}$`)

func (s *Synth) checkVoice(v string) error {
	if !voiceName.MatchString(v) {
		return fmt.Errorf("%w %q: a voice is a name of letters, digits, '_', '-' and '+'", ErrUnknownVoice, v)
	}
	if s.voices != nil && !slices.Contains(s.voices, v) {
		return fmt.Errorf("%w %q: %s has %s", ErrUnknownVoice, v, s.cfg.Engine, strings.Join(s.voices, ", "))
	}
	return nil
}

// Speak returns text spoken by voice ("" is Config.Voice) as 8 kHz mono
// s16le, from the cache when it was spoken before. Concurrent Speaks of the
// same (voice, text) run the engine once and share the result; a run is
// cancelled only when every Speak waiting for it has given up (ctx), or by
// Close, and is bounded by Config.Timeout.
//
// Control characters in text become spaces and invalid UTF-8 is replaced;
// the cache key is the cleaned text.
//
// The Audio of a hit is the one kept in memory (Config.MemBytes), shared
// by every caller: read it, never modify its PCM.
func (s *Synth) Speak(ctx context.Context, text, voice string) (*Audio, error) {
	if voice == "" {
		voice = s.cfg.Voice
	}
	if err := s.checkVoice(voice); err != nil {
		return nil, err
	}
	if len(text) > s.cfg.MaxText {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTextTooLong, len(text), s.cfg.MaxText)
	}
	text = cleanText(text)
	if text == "" {
		return nil, ErrNoText
	}
	key := cacheKey(s.cfg.Engine, voice, text)
	path := filepath.Join(s.cfg.CacheDir, key+".wav")

	var f *flight
	for attempt := 0; ; attempt++ {
		if a, ok := s.mem.get(key); ok {
			s.hits.Add(1)
			return a, nil
		}
		// A hit needs no lock: entries are renamed into place whole, and
		// an entry evicted while open stays readable.
		if a, err := s.load(path); err == nil {
			s.mem.put(key, a)
			s.hits.Add(1)
			return a, nil
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if f = s.flights[key]; f != nil {
			s.shared.Add(1)
			break
		}
		// The run we missed may have finished since load.
		if _, err := os.Stat(path); err == nil && attempt == 0 {
			s.mu.Unlock()
			continue
		}
		runCtx, cancel := context.WithTimeout(s.base, s.cfg.Timeout)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		s.flights[key] = f
		s.wg.Add(1)
		go s.run(runCtx, f, key, path, text, voice)
		break
	}
	f.waiters++ // s.mu is held
	s.mu.Unlock()

	select {
	case <-f.done:
		return f.audio, f.err
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// run synthesises one key; s.wg owns it.
func (s *Synth) run(ctx context.Context, f *flight, key, path, text, voice string) {
	defer s.wg.Done()
	defer f.cancel()
	start := time.Now()
	a, size, err := s.synthesise(ctx, path, text, voice)
	if err == nil {
		// Before the waiters wake: the entry must record the file this run
		// wrote, not whatever a caller does to the path afterwards.
		s.mem.put(key, a)
	}
	s.mu.Lock()
	delete(s.flights, key)
	f.audio, f.err = a, err
	if err == nil {
		s.bytes += size
	}
	over := s.bytes > s.cfg.MaxBytes
	s.mu.Unlock()
	close(f.done)
	if err != nil {
		s.log.Warn("speech synthesis failed", "voice", voice, "chars", len(text), "err", err)
		return
	}
	s.log.Debug("speech synthesised", "voice", voice, "chars", len(text), "duration", a.Duration, "took", time.Since(start))
	if over {
		s.evict(path)
	}
}

// synthesise runs the engine into a temporary file, converts its output to
// 8 kHz mono and renames the result into place.
func (s *Synth) synthesise(ctx context.Context, path, text, voice string) (*Audio, int64, error) {
	s.runs.Add(1)
	raw, err := os.CreateTemp(s.cfg.CacheDir, ".tmp-*.wav")
	if err != nil {
		return nil, 0, fmt.Errorf("tts: cache: %w", err)
	}
	raw.Close()
	defer os.Remove(raw.Name())

	var cmd *exec.Cmd
	switch s.cfg.Engine {
	case Flite:
		// -t takes the next argument as text whatever it looks like.
		cmd = exec.CommandContext(ctx, s.bin, "-voice", voice, "-o", raw.Name(), "-t", text)
	case EspeakNG:
		// The text goes on stdin, so it can never be read as an option.
		cmd = exec.CommandContext(ctx, s.bin, "-b", "1", "-v", voice, "-w", raw.Name())
		cmd.Stdin = strings.NewReader(text)
	}
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("%w: %s: %w", ErrEngine, s.cfg.Engine, context.Cause(ctx))
		}
		if s.cfg.Engine == EspeakNG && strings.Contains(msg, "voice does not exist") {
			return nil, 0, fmt.Errorf("%w %q: espeak-ng --voices lists the voices", ErrUnknownVoice, voice)
		}
		return nil, 0, fmt.Errorf("%w: %s: %v: %s", ErrEngine, s.cfg.Engine, err, msg)
	}
	rf, err := os.Open(raw.Name())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s wrote no WAV: %v", ErrEngine, s.cfg.Engine, err)
	}
	a, err := LoadWAV(rf)
	rf.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s output: %w", ErrEngine, s.cfg.Engine, err)
	}
	if len(a.PCM) == 0 {
		return nil, 0, fmt.Errorf("%w: %s spoke nothing", ErrEngine, s.cfg.Engine)
	}

	tmp, err := os.CreateTemp(s.cfg.CacheDir, ".tmp-*.wav")
	if err != nil {
		return nil, 0, fmt.Errorf("tts: cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	w := bufio.NewWriter(tmp)
	err = WriteWAV(w, a.PCM)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("tts: writing the cache: %w", err)
	}
	a.Path = path
	return a, int64(44 + len(a.PCM)), nil
}

// load reads a cache entry and refreshes its mtime (the LRU clock). An
// entry that is not a WAV of ours is removed.
func (s *Synth) load(path string) (*Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	a, err := LoadWAV(f)
	f.Close()
	if err != nil || len(a.PCM) == 0 {
		s.log.Warn("removing a broken cache entry", "path", path, "err", err)
		os.Remove(path)
		return nil, fmt.Errorf("tts: broken cache entry %s: %v", path, err)
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	a.Path = path
	return a, nil
}

// isEntry tells cache entries (64 hex digits + ".wav") from anything else
// in the directory, which the cache never touches.
func isEntry(name string) bool {
	hexPart, ok := strings.CutSuffix(name, ".wav")
	if !ok || len(hexPart) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}

type entry struct {
	path  string
	size  int64
	mtime time.Time
}

// scan returns the cache's size; with cleanup it also removes temporary
// files older than a minute (left by a crash).
func (s *Synth) scan(cleanup bool) int64 {
	var total int64
	for _, e := range s.entries(cleanup) {
		total += e.size
	}
	return total
}

func (s *Synth) entries(cleanup bool) []entry {
	des, err := os.ReadDir(s.cfg.CacheDir)
	if err != nil {
		s.log.Warn("reading the cache directory", "err", err)
		return nil
	}
	var es []entry
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		p := filepath.Join(s.cfg.CacheDir, de.Name())
		if cleanup && strings.HasPrefix(de.Name(), ".tmp-") && time.Since(info.ModTime()) > time.Minute {
			os.Remove(p)
			continue
		}
		if isEntry(de.Name()) {
			es = append(es, entry{p, info.Size(), info.ModTime()})
		}
	}
	return es
}

// evict removes the least recently used entries until the cache fits in
// MaxBytes. keep (the entry just written) stays even if it alone is larger.
func (s *Synth) evict(keep string) {
	es := s.entries(false)
	slices.SortFunc(es, func(a, b entry) int { return a.mtime.Compare(b.mtime) })
	var total int64
	for _, e := range es {
		total += e.size
	}
	for _, e := range es {
		if total <= s.cfg.MaxBytes {
			break
		}
		if e.path == keep {
			continue
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cache eviction", "path", e.path, "err", err)
			continue
		}
		total -= e.size
		s.evictions.Add(1)
	}
	if total > s.cfg.MaxBytes {
		s.log.Warn("one prompt is larger than the whole cache; raise MaxBytes", "path", keep, "max_bytes", s.cfg.MaxBytes)
	}
	s.mu.Lock()
	s.bytes = total
	s.mu.Unlock()
}

// Stats returns counters since New.
func (s *Synth) Stats() Stats {
	s.mu.Lock()
	b := s.bytes
	s.mu.Unlock()
	return Stats{Hits: s.hits.Load(), Runs: s.runs.Load(), Shared: s.shared.Load(), Evictions: s.evictions.Load(), Bytes: b, MemBytes: s.mem.held()}
}

// Close cancels the engine runs in flight (their Speaks return ErrEngine)
// and waits for them. Speak after Close returns ErrClosed.
func (s *Synth) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return nil
}

func cacheKey(engine, voice, text string) string {
	h := sha256.New()
	h.Write([]byte(engine))
	h.Write([]byte{0})
	h.Write([]byte(voice))
	h.Write([]byte{0})
	h.Write([]byte(text))
	return hex.EncodeToString(h.Sum(nil))
}

// cleanText makes text safe to pass as one argument (no NUL) and to speak:
// invalid UTF-8 is replaced, control characters become spaces, and the
// ends are trimmed.
func cleanText(text string) string {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text)
	return strings.TrimSpace(text)
}

// limitedBuffer keeps the first 4 KiB an engine prints, for error messages.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4<<10 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
