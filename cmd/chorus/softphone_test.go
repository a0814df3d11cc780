package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/channels/sip/siptest"
)

// The softphone test's peers and where Debian puts their parts.
const (
	baresipModules = "/usr/lib/baresip/modules"
	sphinxModel    = "/usr/share/pocketsphinx/model/en-us/en-us"
	softphoneDebs  = "baresip-core sox pocketsphinx pocketsphinx-en-us flite"
)

// The weather app's voice prompt ends with these words, in this order.
// Recognised from the phone's audio, they prove that speech went out (the
// kal voice's "ZIP" is heard as "ship" by pocketsphinx as often as not, so
// it is logged, not required).
var promptPhrases = []string{"five digit", "code for your forecast"}

// TestSoftphoneHearsThePrompt: baresip, a real SIP phone bound to
// 127.0.0.1, calls the weather app and records what it hears. When the
// prompt has ended (a second of silence after at least four seconds of
// audio) it keys 3 2 8 0 1 as RFC 4733 events (its default), then waits
// for the app's BYE after the forecast. The session must show the digits
// in and Orlando's forecast out; pocketsphinx must find the prompt's words
// in the phone's recording of the prompt, and must not find them in the
// same voice saying a sentence made of the distractors.
func TestSoftphoneHearsThePrompt(t *testing.T) {
	t.Parallel() // the call lasts ~25 s in real time
	needSoftphoneTools(t)
	grammar, err := filepath.Abs("testdata/softphone/prompt.gram")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	ts := sipWeather(t)
	dir := t.TempDir()
	bs := startBaresip(ctx, t, dir, fmt.Sprintf("sip:weather@%s", ts.s.sip.Addr()))

	eventually(10*time.Second, func() bool { return bs.has("Call established") || bs.exited() })
	if !bs.has("Call established") {
		t.Fatalf("baresip did not get through:\n%s", bs.tail())
	}

	// Listen like a caller: key in once the prompt has finished.
	var heard []int16
	var promptEnd int // samples
	eventually(15*time.Second, func() bool {
		heard = bs.heard(t)
		promptEnd = endOfPrompt(heard)
		return promptEnd > 0 || bs.exited()
	})
	if promptEnd == 0 {
		t.Fatalf("baresip heard no prompt (%d samples); baresip:\n%s", len(heard), bs.tail())
	}
	for _, d := range "32801" {
		bs.key(t, string(d))
		time.Sleep(400 * time.Millisecond) // stdio's timer releases the key: one RFC 4733 event per digit
	}

	// The forecast takes ~15 s to speak; then the app hangs up.
	bye := eventually(30*time.Second, func() bool { return bs.has("terminated") || bs.exited() }) && bs.has("terminated")
	bs.key(t, "q")
	bs.stop(t)
	out := bs.output()
	if !bye {
		t.Fatalf("the app did not hang up within 30 s of the digits:\n%s", bs.tail())
	}
	for _, d := range "32801" {
		if !strings.Contains(out, "send DTMF digit: '"+string(d)+"'") {
			t.Fatalf("baresip did not send the digit %c:\n%s", d, bs.tail())
		}
	}
	// Loopback only: every SDP in the SIP trace names 127.0.0.1.
	conns := regexp.MustCompile(`c=IN IP4 (\S+)`).FindAllStringSubmatch(out, -1)
	if len(conns) < 2 {
		t.Fatalf("no SDP offer and answer in baresip's SIP trace:\n%s", bs.tail())
	}
	for _, c := range conns {
		if c[1] != "127.0.0.1" {
			t.Fatalf("an SDP names %s, not 127.0.0.1", c[1])
		}
	}

	s := ts.voiceSession(t)
	if s["end_reason"] != "completed" || !transcriptHas(s, "dtmf", "in", "32801") || !transcriptHas(s, "speech", "out", "Orlando") {
		t.Fatalf("session %v", s)
	}

	// What the phone heard, from the closed recording.
	heard = bs.heard(t)
	if after := speechFrames(heard[promptEnd:]); after < 5*50 {
		t.Fatalf("only %d ms of the answer reached the phone", after*20)
	}
	prompt := transcribe(ctx, t, dir, "prompt", heard[:promptEnd], grammar)
	t.Logf("pocketsphinx heard the prompt as %q", prompt)
	if !hasPhrases(prompt, promptPhrases) {
		t.Fatalf("the prompt's words %q are not in what the phone heard: %q", promptPhrases, prompt)
	}
	t.Logf("\"zip code\" recognised: %v", strings.Contains(prompt, "zip code"))

	// Control: the same voice saying distractors that share some of the
	// prompt's words must not pass the same check.
	control := filepath.Join(dir, "control.wav")
	if out, err := exec.CommandContext(ctx, "flite", "-t", "Please enter your secret area code and the number for the ship.", "-o", control).CombinedOutput(); err != nil {
		t.Fatalf("flite: %v\n%s", err, out)
	}
	other := transcribe(ctx, t, dir, "control", readWAV(t, control), grammar)
	t.Logf("pocketsphinx heard the control as %q", other)
	if hasPhrases(other, promptPhrases) {
		t.Fatalf("the check passes on a sentence that is not the prompt (%q): it proves nothing", other)
	}
}

// eventually polls ok every 50 ms for up to within and says whether it held.
func eventually(within time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(within); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// needSoftphoneTools fails (never skips) when a peer is not installed.
func needSoftphoneTools(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"baresip", "sox", "pocketsphinx_continuous", "flite", "stdbuf"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed: apt-get install %s (scripts/test-deps.sh; stdbuf is in coreutils)", bin, softphoneDebs)
		}
	}
	for _, m := range []string{"g711", "aufile", "aubridge", "sndfile", "stdio", "account", "menu"} {
		if _, err := os.Stat(filepath.Join(baresipModules, m+".so")); err != nil {
			t.Fatalf("baresip's %s module is missing (%v): apt-get install baresip-core", m, err)
		}
	}
	if _, err := os.Stat(filepath.Join(sphinxModel, "mdef")); err != nil {
		t.Fatalf("pocketsphinx's US English model is missing (%v): apt-get install pocketsphinx-en-us", err)
	}
}

// baresip is one baresip process: its stdin takes keys (stdio module),
// its merged output is kept, and sndfile records what it hears in dir.
type baresip struct {
	cmd  *exec.Cmd
	in   interface{ Write([]byte) (int, error) }
	dir  string
	out  lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 { // bounded: the status line repeats every 100 ms
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startBaresip writes a config dir (SIP and RTP on 127.0.0.1 only, G.711,
// 55 s of silence as the microphone, a null speaker, sndfile recording)
// and dials uri. The process is stopped by its PID at cleanup.
func startBaresip(ctx context.Context, t *testing.T, dir, uri string) *baresip {
	t.Helper()
	port, err := siptest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	mic := filepath.Join(dir, "in.wav")
	if err := os.WriteFile(mic, wavBytes(make([]int16, 55*8000)), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`poll_method		epoll
sip_listen		127.0.0.1:%d
net_interface		127.0.0.1
audio_player		aubridge,speaker
audio_alert		aubridge,speaker
audio_source		aufile,%s
module_path		%s
module			stdio.so
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
snd_path		%s
module_app		account.so
module_app		menu.so
`, port, mic, baresipModules, dir)
	files := map[string]string{
		"config":   config,
		"accounts": "<sip:phone@127.0.0.1>;regint=0\n",
		"contacts": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &baresip{dir: dir, done: make(chan struct{})}
	// -s: the SIP trace shows the SDP; -t: baresip quits on its own at 55 s.
	// stdbuf: baresip's stdout is a pipe here, keep it line-buffered.
	b.cmd = exec.Command("stdbuf", "-oL", "baresip", "-f", dir, "-s", "-t", "55", "-e", "/dial "+uri)
	b.cmd.Dir = dir
	b.cmd.Stdout = &b.out
	b.cmd.Stderr = &b.out
	b.cmd.WaitDelay = 2 * time.Second
	in, err := b.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.in = in
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	go func() { // the test's bound
		select {
		case <-ctx.Done():
			_ = b.cmd.Process.Kill()
		case <-b.done:
		}
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill() // by PID; harmless once it has exited
		<-b.done
	})
	return b
}

func (b *baresip) output() string    { return b.out.String() }
func (b *baresip) has(s string) bool { return strings.Contains(b.out.String(), s) }

func (b *baresip) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// tail is the end of baresip's output without its status line.
func (b *baresip) tail() string {
	s := regexp.MustCompile(`\[\d+:\d\d:\d\d\] audio=\S+ \(bit/s\)\s*`).ReplaceAllString(b.output(), "")
	if len(s) > 6000 {
		s = "..." + s[len(s)-6000:]
	}
	return s
}

// key types one key on baresip's stdin (menu: digits in a call are DTMF).
func (b *baresip) key(t *testing.T, k string) {
	t.Helper()
	if _, err := b.in.Write([]byte(k)); err != nil && !b.exited() {
		t.Fatalf("baresip's stdin: %v", err)
	}
}

// stop waits up to 5 s for baresip to quit, then kills it by PID.
func (b *baresip) stop(t *testing.T) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		t.Logf("baresip did not quit; killing PID %d", b.cmd.Process.Pid)
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// heard reads what sndfile has recorded so far of the decoded audio
// (dump-*-dec.wav, 8 kHz mono s16le; the file grows during the call).
func (b *baresip) heard(t *testing.T) []int16 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(b.dir, "dump-*-dec.wav"))
	if len(files) == 0 {
		return nil
	}
	return readWAV(t, files[0])
}

// readWAV reads 16-bit samples from a WAV file's data chunk, up to the end
// of the file (the header of a file being written may say 0).
func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, []byte("data"))
	if len(raw) < 12 || string(raw[:4]) != "RIFF" || i < 0 || i+8 > len(raw) {
		return nil
	}
	pcm := raw[i+8:]
	s := make([]int16, len(pcm)/2)
	for k := range s {
		s[k] = int16(binary.LittleEndian.Uint16(pcm[2*k:]))
	}
	return s
}

// wavBytes is a PCM WAV file: 8 kHz, mono, 16-bit.
func wavBytes(s []int16) []byte {
	var b bytes.Buffer
	n := uint32(2 * len(s))
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, 36+n)
	b.WriteString("WAVEfmt ")
	_ = binary.Write(&b, binary.LittleEndian, struct {
		Size                 uint32
		Format, Channels     uint16
		Rate, ByteRate       uint32
		Align, BitsPerSample uint16
	}{16, 1, 1, 8000, 16000, 2, 16})
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, n)
	_ = binary.Write(&b, binary.LittleEndian, s)
	return b.Bytes()
}

// loud tells a 20 ms frame with speech from silence (G.711 silence and
// comfort levels stay far below 500).
func loud(frame []int16) bool {
	for _, v := range frame {
		if v > 500 || v < -500 {
			return true
		}
	}
	return false
}

// speechFrames counts the 20 ms frames with speech.
func speechFrames(s []int16) int {
	n := 0
	for i := 0; i+160 <= len(s); i += 160 {
		if loud(s[i : i+160]) {
			n++
		}
	}
	return n
}

// endOfPrompt returns the sample where the prompt ended: speech spanning
// at least 4 s ("Welcome to Chorus weather." and the ~3 s prompt, with a
// short pause between them) followed by 1 s of silence; 0 until then.
func endOfPrompt(s []int16) int {
	first, last := -1, -1
	frames := len(s) / 160
	for f := 0; f < frames; f++ {
		if loud(s[f*160 : (f+1)*160]) {
			if first < 0 {
				first = f
			}
			last = f
		}
	}
	if first < 0 || last-first < 4*50 || frames-last < 50 {
		return 0
	}
	return (last + 1) * 160
}

// transcribe runs pocketsphinx with the grammar on 8 kHz samples
// (upsampled to 16 kHz by sox, half a second of silence each side) and
// returns the words it heard, one space apart.
func transcribe(ctx context.Context, t *testing.T, dir, name string, samples []int16, grammar string) string {
	t.Helper()
	low := filepath.Join(dir, name+"-8k.wav")
	high := filepath.Join(dir, name+"-16k.wav")
	if err := os.WriteFile(low, wavBytes(samples), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "sox", low, "-r", "16000", high, "pad", "0.5", "0.5").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	ps := exec.CommandContext(ctx, "pocketsphinx_continuous", "-infile", high, "-jsgf", grammar, "-hmm", sphinxModel)
	ps.Stdout, ps.Stderr = &stdout, &stderr
	if err := ps.Run(); err != nil {
		t.Fatalf("pocketsphinx on %s: %v\n%s", high, err, lastLines(stderr.String(), 20))
	}
	return strings.Join(strings.Fields(stdout.String()), " ")
}

// hasPhrases: each phrase appears in text as whole words, in order.
func hasPhrases(text string, phrases []string) bool {
	rest := " " + text + " "
	for _, p := range phrases {
		i := strings.Index(rest, " "+p+" ")
		if i < 0 {
			return false
		}
		rest = rest[i+len(p)+1:]
	}
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
