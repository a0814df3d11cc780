package tts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Rate is the sample rate of every Audio: 8 kHz, what G.711 carries.
const Rate = 8000

// Bounds on what LoadWAV accepts.
const (
	// MaxWAVBytes bounds the WAV file LoadWAV reads (50 MiB).
	MaxWAVBytes = 50 << 20
	// MaxDuration bounds the audio LoadWAV returns (one hour, 57.6 MB of
	// 8 kHz PCM), whatever the input's rate.
	MaxDuration = time.Hour
	minRate     = 1000
	maxRate     = 384000
)

// ErrBadWAV is wrapped by every LoadWAV error about the file's content.
var ErrBadWAV = errors.New("tts: not a usable WAV file")

// Audio is 8 kHz mono signed 16-bit little-endian speech.
type Audio struct {
	// Path is the cached WAV file (RIFF, PCM s16le, 8000 Hz, mono) for
	// Speak; empty for LoadWAV. The file stays until the cache evicts it:
	// play PCM, not Path, when the call may outlive the cache entry.
	Path string
	// PCM holds the samples, s16le, without a header.
	PCM      []byte
	Duration time.Duration
}

func newAudio(path string, pcm []byte) *Audio {
	n := len(pcm) / 2
	return &Audio{Path: path, PCM: pcm, Duration: time.Duration(n) * time.Second / Rate}
}

// LoadWAV reads a RIFF/WAVE file of uncompressed PCM (format 1, or
// WAVE_FORMAT_EXTENSIBLE with the PCM sub-format), 8- or 16-bit, mono or
// stereo, at any rate from 1 kHz to 384 kHz, and returns it as 8 kHz mono
// s16le: stereo is averaged, other rates go through a windowed-sinc
// resampler (low-pass at 0.45 of the lower rate, so nothing aliases).
//
// Other encodings (A-law, float, 24-bit, more channels) are refused with an
// error saying what the file is and what to convert it to. Files over
// MaxWAVBytes, or longer than MaxDuration once converted, are refused
// before the samples are converted. A data chunk whose size runs past the
// end of the file (as streaming writers leave it) is read to the end.
func LoadWAV(r io.Reader) (*Audio, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxWAVBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tts: reading WAV: %w", err)
	}
	if len(data) > MaxWAVBytes {
		return nil, fmt.Errorf("%w: larger than %d MiB", ErrBadWAV, MaxWAVBytes>>20)
	}
	f, err := parseWAV(data)
	if err != nil {
		return nil, err
	}
	frames := len(f.data) / f.blockAlign
	out := int64(frames) * Rate / int64(f.rate)
	if time.Duration(out)*time.Second/Rate > MaxDuration {
		return nil, fmt.Errorf("%w: %s of audio, more than %s", ErrBadWAV,
			(time.Duration(frames) * time.Second / time.Duration(f.rate)).Round(time.Second), MaxDuration)
	}
	return newAudio("", f.convert()), nil
}

// wavFormat is a parsed WAV: the fields convert needs and the raw samples.
type wavFormat struct {
	channels, bits, rate, blockAlign int
	data                             []byte
}

// The GUID tail of KSDATAFORMAT_SUBTYPE_PCM; the first two bytes are the
// format tag (1).
var pcmGUIDTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71}

func parseWAV(b []byte) (*wavFormat, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: no RIFF/WAVE header (convert it to a PCM WAV, e.g. sox in.mp3 -r 8000 -c 1 -b 16 out.wav)", ErrBadWAV)
	}
	var f wavFormat
	haveFmt := false
	p := b[12:]
	for len(p) >= 8 {
		id := string(p[0:4])
		size := int64(binary.LittleEndian.Uint32(p[4:8]))
		p = p[8:]
		if id == "data" {
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrBadWAV)
			}
			if size > int64(len(p)) { // streaming writers leave 0xFFFFFFFF or the planned size
				size = int64(len(p))
			}
			f.data = p[:size]
			f.data = f.data[:len(f.data)/f.blockAlign*f.blockAlign]
			return &f, nil
		}
		if size > int64(len(p)) {
			return nil, fmt.Errorf("%w: %q chunk of %d bytes runs past the end of the file", ErrBadWAV, id, size)
		}
		body := p[:size]
		if size%2 == 1 && size < int64(len(p)) { // chunks are padded to even sizes
			size++
		}
		p = p[size:]
		if id != "fmt " {
			continue // LIST, fact, cue...: not needed
		}
		if haveFmt {
			return nil, fmt.Errorf("%w: two fmt chunks", ErrBadWAV)
		}
		if len(body) < 16 {
			return nil, fmt.Errorf("%w: fmt chunk of %d bytes (16 at least)", ErrBadWAV, len(body))
		}
		tag := binary.LittleEndian.Uint16(body[0:2])
		f.channels = int(binary.LittleEndian.Uint16(body[2:4]))
		f.rate = int(binary.LittleEndian.Uint32(body[4:8]))
		f.blockAlign = int(binary.LittleEndian.Uint16(body[12:14]))
		f.bits = int(binary.LittleEndian.Uint16(body[14:16]))
		if tag == 0xFFFE { // WAVE_FORMAT_EXTENSIBLE
			if len(body) < 40 || !bytes.Equal(body[26:40], pcmGUIDTail) {
				return nil, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE with a sub-format other than PCM (convert it: sox in.wav -e signed -b 16 out.wav)", ErrBadWAV)
			}
			tag = binary.LittleEndian.Uint16(body[24:26])
		}
		switch {
		case tag != 1:
			return nil, fmt.Errorf("%w: encoding %s, only PCM is read (convert it: sox in.wav -e signed -b 16 out.wav)", ErrBadWAV, formatName(tag))
		case f.bits != 8 && f.bits != 16:
			return nil, fmt.Errorf("%w: %d-bit samples, only 8 and 16 are read (convert it: sox in.wav -b 16 out.wav)", ErrBadWAV, f.bits)
		case f.channels != 1 && f.channels != 2:
			return nil, fmt.Errorf("%w: %d channels, only mono and stereo are read (convert it: sox in.wav -c 1 out.wav)", ErrBadWAV, f.channels)
		case f.rate < minRate || f.rate > maxRate:
			return nil, fmt.Errorf("%w: sample rate %d Hz outside %d..%d", ErrBadWAV, f.rate, minRate, maxRate)
		case f.blockAlign != f.channels*f.bits/8:
			return nil, fmt.Errorf("%w: block align %d for %d channels of %d bits", ErrBadWAV, f.blockAlign, f.channels, f.bits)
		}
		haveFmt = true
	}
	if !haveFmt {
		return nil, fmt.Errorf("%w: no fmt chunk", ErrBadWAV)
	}
	return nil, fmt.Errorf("%w: no data chunk", ErrBadWAV)
}

func formatName(tag uint16) string {
	switch tag {
	case 3:
		return "IEEE float"
	case 6:
		return "A-law"
	case 7:
		return "mu-law"
	case 0x11:
		return "IMA ADPCM"
	case 0x55:
		return "MP3"
	}
	return fmt.Sprintf("0x%04x", tag)
}

// sample returns frame i, downmixed, scaled to the int16 range.
func (f *wavFormat) sample(i int) float64 {
	off := i * f.blockAlign
	var sum float64
	for c := 0; c < f.channels; c++ {
		if f.bits == 8 {
			sum += float64(int(f.data[off+c])-128) * 256
		} else {
			sum += float64(int16(binary.LittleEndian.Uint16(f.data[off+2*c:])))
		}
	}
	return sum / float64(f.channels)
}

// convert returns the samples as 8 kHz mono s16le.
func (f *wavFormat) convert() []byte {
	frames := len(f.data) / f.blockAlign
	if f.rate == Rate && f.channels == 1 && f.bits == 16 {
		return bytes.Clone(f.data)
	}
	if f.rate == Rate {
		out := make([]byte, 2*frames)
		for i := range frames {
			binary.LittleEndian.PutUint16(out[2*i:], uint16(clamp16(f.sample(i))))
		}
		return out
	}
	return resample(f.sample, frames, f.rate, Rate)
}

// The resampler is a Blackman-windowed sinc, cut off at 0.45 of the lower
// rate (so nothing above the output's Nyquist frequency folds back), zeros
// zero-crossings wide on each side. Its weights are precomputed per phase
// when the rates' ratio has few phases (every common rate), else computed
// per tap.
const (
	zeros        = 10
	maxTableSize = 1 << 20 // weights
)

func resample(at func(int) float64, n, inRate, outRate int) []byte {
	outN := int(int64(n) * int64(outRate) / int64(inRate))
	out := make([]byte, 2*outN)
	step := float64(inRate) / float64(outRate)
	fc := 0.45 * math.Min(1, 1/step) // cycles per input sample
	half := zeros / (2 * fc)         // kernel half-width in input samples
	h := int(math.Ceil(half))
	taps := 2*h + 1
	g := gcd(inRate, outRate)
	phases := outRate / g
	var table []float64 // phases × taps: the weight of input base+d-h at phase p
	if phases*taps <= maxTableSize {
		table = make([]float64, phases*taps)
		for p := range phases {
			frac := float64(p*g) / float64(outRate)
			for d := range taps {
				table[p*taps+d] = kernel(float64(d-h)-frac, fc, half)
			}
		}
	}
	for j := range outN {
		num := int64(j) * int64(inRate)
		base := int(num / int64(outRate))
		rem := int(num % int64(outRate))
		frac := float64(rem) / float64(outRate)
		var acc, wsum float64
		lo := max(base-h, 0)
		hi := min(base+h, n-1)
		for k := lo; k <= hi; k++ {
			var w float64
			if table != nil {
				w = table[(rem/g)*taps+k-base+h]
			} else {
				w = kernel(float64(k-base)-frac, fc, half)
			}
			acc += w * at(k)
			wsum += w
		}
		if wsum != 0 {
			acc /= wsum // unity gain at DC, also at the edges
		}
		binary.LittleEndian.PutUint16(out[2*j:], uint16(clamp16(acc)))
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func kernel(x, fc, half float64) float64 {
	if math.Abs(x) >= half {
		return 0
	}
	s := 2 * fc
	if x != 0 {
		a := 2 * math.Pi * fc * x
		s = math.Sin(a) / (math.Pi * x)
	}
	r := x / half // -1..1
	win := 0.42 + 0.5*math.Cos(math.Pi*r) + 0.08*math.Cos(2*math.Pi*r)
	return s * win
}

func clamp16(v float64) int16 {
	v = math.Round(v)
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}

// WriteWAV writes pcm (8 kHz mono s16le) as a RIFF/WAVE file: the format of
// every Audio.Path, for recordings too.
func WriteWAV(w io.Writer, pcm []byte) error {
	if len(pcm)%2 != 0 {
		return errors.New("tts: WriteWAV: odd number of PCM bytes")
	}
	if int64(len(pcm)) > math.MaxUint32-36 {
		return errors.New("tts: WriteWAV: more than 4 GiB of PCM")
	}
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(pcm)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], Rate)
	binary.LittleEndian.PutUint32(h[28:], Rate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(pcm)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(pcm)
	return err
}
