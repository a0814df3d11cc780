package tts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeWAV writes a sine of freq Hz, amp of full scale, for dur, in the
// given PCM format.
func makeWAV(rate, channels, bits int, freq, amp float64, dur time.Duration) []byte {
	n := int(int64(rate) * int64(dur) / int64(time.Second))
	block := channels * bits / 8
	data := make([]byte, n*block)
	for i := range n {
		v := amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
		for c := range channels {
			off := i*block + c*bits/8
			if bits == 8 {
				data[off] = byte(int(math.Round(v*127)) + 128)
			} else {
				binary.LittleEndian.PutUint16(data[off:], uint16(int16(math.Round(v*32767))))
			}
		}
	}
	return wavBytes(1, rate, channels, bits, data)
}

func wavBytes(tag, rate, channels, bits int, data []byte) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, uint32(16))
	binary.Write(&b, le, uint16(tag))
	binary.Write(&b, le, uint16(channels))
	binary.Write(&b, le, uint32(rate))
	binary.Write(&b, le, uint32(rate*channels*bits/8))
	binary.Write(&b, le, uint16(channels*bits/8))
	binary.Write(&b, le, uint16(bits))
	b.WriteString("data")
	binary.Write(&b, le, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// tone measures a's level (RMS as a fraction of full scale) and its
// frequency from zero crossings.
func tone(a *Audio) (level, freq float64) {
	n := len(a.PCM) / 2
	crossings := 0
	prev := 0.0
	for i := range n {
		v := float64(int16(binary.LittleEndian.Uint16(a.PCM[2*i:])))
		if i > 0 && (prev < 0) != (v < 0) {
			crossings++
		}
		prev = v
	}
	return rms(a.PCM) / 32767, float64(crossings) / 2 / a.Duration.Seconds()
}

func TestLoadWAVFormats(t *testing.T) {
	for _, tc := range []struct {
		rate, channels, bits int
	}{
		{8000, 1, 16}, {8000, 1, 8}, {8000, 2, 16},
		{16000, 1, 16}, {11025, 1, 8}, {22050, 1, 16}, {44100, 2, 16},
		{48000, 2, 8}, {96000, 1, 16}, {6000, 1, 16}, {32000, 2, 16},
	} {
		a, err := LoadWAV(bytes.NewReader(makeWAV(tc.rate, tc.channels, tc.bits, 440, 0.5, time.Second)))
		if err != nil {
			t.Errorf("%+v: %v", tc, err)
			continue
		}
		if d := a.Duration - time.Second; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%+v: duration %s, want 1s", tc, a.Duration)
		}
		level, freq := tone(a)
		// A sine of amplitude 0.5 has an RMS of 0.354.
		if math.Abs(level-0.354) > 0.01 || math.Abs(freq-440) > 2 {
			t.Errorf("%+v: level %.3f (want 0.354), %.1f Hz (want 440)", tc, level, freq)
		}
	}
}

// The resampler passes speech frequencies and stops what would alias.
func TestLoadWAVFilters(t *testing.T) {
	pass, err := LoadWAV(bytes.NewReader(makeWAV(44100, 1, 16, 3000, 0.5, time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if level, freq := tone(pass); level < 0.33 || math.Abs(freq-3000) > 5 {
		t.Errorf("3 kHz from 44.1 kHz: level %.3f (want ~0.354), %.0f Hz", level, freq)
	}
	// 6 kHz would fold to 2 kHz at 8 kHz.
	stop, err := LoadWAV(bytes.NewReader(makeWAV(44100, 1, 16, 6000, 0.5, time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if level, _ := tone(stop); level > 0.005 {
		t.Errorf("6 kHz from 44.1 kHz: level %.4f, want < 0.005 (aliasing)", level)
	}
}

// Files sox writes, also the formats LoadWAV refuses.
func TestLoadWAVFromSox(t *testing.T) {
	needBinary(t, "sox", "sox")
	dir := t.TempDir()
	sox := func(name string, args ...string) []byte {
		p := filepath.Join(dir, name)
		cmd := exec.Command("sox", append(append([]string{"-n"}, args...), p, "synth", "0.5", "sine", "440", "vol", "0.5")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sox %v: %v: %s", args, err, out)
		}
		b, _ := os.ReadFile(p)
		return b
	}
	for _, args := range [][]string{
		{"-r", "8000", "-c", "1", "-b", "16"},
		{"-r", "44100", "-c", "2", "-b", "16"},
		{"-r", "16000", "-c", "1", "-b", "8"},
		{"-r", "22050", "-c", "2", "-b", "8"},
	} {
		a, err := LoadWAV(bytes.NewReader(sox("ok.wav", args...)))
		if err != nil {
			t.Errorf("sox %v: %v", args, err)
			continue
		}
		if level, freq := tone(a); a.Duration != 500*time.Millisecond || math.Abs(level-0.354) > 0.02 || math.Abs(freq-440) > 4 {
			t.Errorf("sox %v: %s, level %.3f, %.0f Hz", args, a.Duration, level, freq)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", "8000", "-c", "1", "-b", "24"}, "24-bit"},
		{[]string{"-r", "8000", "-c", "1", "-e", "a-law"}, "A-law"},
		{[]string{"-r", "8000", "-c", "1", "-e", "mu-law"}, "mu-law"},
		{[]string{"-r", "8000", "-c", "1", "-e", "floating-point", "-b", "32"}, "float"},
		{[]string{"-r", "8000", "-c", "3", "-b", "16"}, "3 channels"}, // sox writes EXTENSIBLE for 3 channels
		{[]string{"-r", "8000", "-c", "4", "-b", "16", "-t", "wavpcm"}, "4 channels"},
	} {
		_, err := LoadWAV(bytes.NewReader(sox("bad.wav", tc.args...)))
		if !errors.Is(err, ErrBadWAV) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sox %v: %v, want ErrBadWAV naming %q", tc.args, err, tc.want)
		}
	}
}

// WAVE_FORMAT_EXTENSIBLE: PCM is read, other sub-formats are refused.
func TestLoadWAVExtensible(t *testing.T) {
	ext := func(sub uint16) []byte {
		pcm := makeWAV(16000, 1, 16, 440, 0.5, 100*time.Millisecond)[44:]
		var b bytes.Buffer
		le := binary.LittleEndian
		b.WriteString("RIFF")
		binary.Write(&b, le, uint32(4+8+40+8+len(pcm)))
		b.WriteString("WAVEfmt ")
		binary.Write(&b, le, uint32(40))
		for _, v := range []any{uint16(0xFFFE), uint16(1), uint32(16000), uint32(32000), uint16(2), uint16(16), uint16(22), uint16(16), uint32(4), sub} {
			binary.Write(&b, le, v)
		}
		b.Write(pcmGUIDTail)
		b.WriteString("data")
		binary.Write(&b, le, uint32(len(pcm)))
		b.Write(pcm)
		return b.Bytes()
	}
	a, err := LoadWAV(bytes.NewReader(ext(1)))
	if err != nil || a.Duration != 100*time.Millisecond {
		t.Errorf("extensible PCM: %v", err)
	}
	if _, err := LoadWAV(bytes.NewReader(ext(3))); !errors.Is(err, ErrBadWAV) || !strings.Contains(err.Error(), "float") {
		t.Errorf("extensible float: %v", err)
	}
}

func TestLoadWAVGarbage(t *testing.T) {
	good := makeWAV(8000, 1, 16, 440, 0.5, 100*time.Millisecond)
	patch := func(off int, v uint32, size int) []byte {
		b := bytes.Clone(good)
		if size == 2 {
			binary.LittleEndian.PutUint16(b[off:], uint16(v))
		} else {
			binary.LittleEndian.PutUint32(b[off:], v)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"empty":         nil,
		"text":          []byte("hello, this is not audio"),
		"riff only":     []byte("RIFF\x00\x00\x00\x00WAVE"),
		"no data":       good[:36],
		"fmt too long":  patch(16, 1<<31, 4),
		"fmt too short": patch(16, 8, 4),
		"0 channels":    patch(22, 0, 2),
		"0 Hz":          patch(24, 0, 4),
		"block align":   patch(32, 7, 2),
		"12 bits":       patch(34, 12, 2),
		"truncated fmt": good[:30],
		"data first":    append([]byte("RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd"), good[12:]...),
		"two fmt":       append(append(bytes.Clone(good[:36]), good[12:36]...), good[36:]...),
	} {
		a, err := LoadWAV(bytes.NewReader(b))
		if !errors.Is(err, ErrBadWAV) {
			t.Errorf("%s: %v, %v; want ErrBadWAV", name, a, err)
		}
	}
	// A data size past the end (streaming writers) reads what is there.
	a, err := LoadWAV(bytes.NewReader(patch(40, 0xFFFFFFFF, 4)))
	if err != nil || a.Duration != 100*time.Millisecond {
		t.Errorf("data size 0xFFFFFFFF: %v, %v", a, err)
	}
	// An odd byte at the end of 16-bit data is dropped.
	a, err = LoadWAV(bytes.NewReader(append(patch(40, 1601, 4), 0)))
	if err != nil || len(a.PCM) != 1600 {
		t.Errorf("odd data size: %v", err)
	}
	// Chunks before fmt and data (LIST, odd-sized and padded) are skipped.
	extra := append([]byte("LIST\x03\x00\x00\x00abc\x00"), good[12:]...)
	a, err = LoadWAV(bytes.NewReader(append(bytes.Clone(good[:12]), extra...)))
	if err != nil || len(a.PCM) != 1600 {
		t.Errorf("LIST chunk: %v", err)
	}
	// Too large.
	big := wavBytes(1, 8000, 1, 16, make([]byte, MaxWAVBytes))
	if _, err := LoadWAV(bytes.NewReader(big)); !errors.Is(err, ErrBadWAV) || !strings.Contains(err.Error(), "MiB") {
		t.Errorf("%d bytes: %v, want too large", len(big), err)
	}
	// Too long once converted: 8-bit mono at 1 kHz, 2 hours in 7 MB.
	long := wavBytes(1, 1000, 1, 8, make([]byte, 2*3600*1000))
	if _, err := LoadWAV(bytes.NewReader(long)); !errors.Is(err, ErrBadWAV) || !strings.Contains(err.Error(), "2h0m0s") {
		t.Errorf("2 h at 1 kHz: %v, want too long", err)
	}
	// Random bytes after a valid header never panic.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := bytes.Clone(good[:r.IntN(len(good))])
		for range r.IntN(8) {
			if len(b) > 0 {
				b[r.IntN(len(b))] = byte(r.Uint32())
			}
		}
		LoadWAV(bytes.NewReader(b))
	}
}

func TestWriteWAVRoundTrip(t *testing.T) {
	pcm := makeWAV(8000, 1, 16, 440, 0.5, 200*time.Millisecond)[44:]
	var b bytes.Buffer
	if err := WriteWAV(&b, pcm); err != nil {
		t.Fatal(err)
	}
	a, err := LoadWAV(&b)
	if err != nil || !bytes.Equal(a.PCM, pcm) || a.Duration != 200*time.Millisecond {
		t.Errorf("round trip: %v", err)
	}
	if err := WriteWAV(&b, []byte{1}); err == nil {
		t.Error("odd PCM accepted")
	}
}

func FuzzLoadWAV(f *testing.F) {
	f.Add(makeWAV(8000, 1, 16, 440, 0.5, 10*time.Millisecond))
	f.Add(makeWAV(44100, 2, 16, 440, 0.5, 10*time.Millisecond))
	f.Add(makeWAV(11025, 1, 8, 440, 0.5, 10*time.Millisecond))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := LoadWAV(bytes.NewReader(b))
		if err == nil && (len(a.PCM)%2 != 0 || a.Duration > MaxDuration) {
			t.Fatalf("bad audio: %d bytes, %s", len(a.PCM), a.Duration)
		}
	})
}

func BenchmarkLoadWAV44k(b *testing.B) {
	w := makeWAV(44100, 2, 16, 440, 0.5, time.Second)
	b.SetBytes(int64(len(w)))
	for b.Loop() {
		if _, err := LoadWAV(bytes.NewReader(w)); err != nil {
			b.Fatal(err)
		}
	}
}
