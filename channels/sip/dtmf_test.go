package sip

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/pion/rtp"
)

// pcapRTP reads the RTP packets of a sipp DTMF pcap (Ethernet/IPv4/UDP).
func pcapRTP(t *testing.T, path string) []rtp.Packet {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v (install sip-tester: apt-get install sip-tester)", path, err)
	}
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		t.Fatalf("%s: not a little-endian pcap", path)
	}
	var out []rtp.Packet
	for off := 24; off+16 <= len(data); {
		incl := int(binary.LittleEndian.Uint32(data[off+8:]))
		off += 16
		if off+incl > len(data) || incl < 42+12 {
			t.Fatalf("%s: truncated record", path)
		}
		var p rtp.Packet
		if err := p.Unmarshal(data[off+42 : off+incl]); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, p)
		off += incl
	}
	return out
}

func TestDTMFDecoderSippPcaps(t *testing.T) {
	files := map[string]rune{"1": '1', "0": '0', "9": '9', "pound": '#', "star": '*'}
	for name, want := range files {
		pkts := pcapRTP(t, "/usr/share/sip-tester/dtmf_2833_"+name+".pcap")
		if d := pkts[0].Payload; binary.BigEndian.Uint16(d[2:]) != 0 {
			t.Fatalf("%s: the pcap's first packet has duration %d; the test wants the duration-0 start", name, binary.BigEndian.Uint16(d[2:]))
		}
		var dec dtmfDecoder
		var got []rune
		// The same pcap twice: a replay reuses the timestamp and must count again.
		for round := 0; round < 2; round++ {
			for _, p := range pkts {
				if k, ok := dec.feed(p.Timestamp, p.Marker, p.Payload); ok {
					got = append(got, k)
				}
			}
		}
		if string(got) != string([]rune{want, want}) {
			t.Errorf("%s: digits %q, want %q", name, string(got), string([]rune{want, want}))
		}
	}
}

func TestDTMFDecoderEndOnly(t *testing.T) {
	var dec dtmfDecoder
	var got []rune
	feed := func(ts uint32, marker bool, p []byte) {
		if k, ok := dec.feed(ts, marker, p); ok {
			got = append(got, k)
		}
	}
	// '5': only the three end packets arrive (start packets lost).
	for i := 0; i < 3; i++ {
		feed(1000, false, dtmfPayload('5', true, 800))
	}
	// '5' again, a new event (new timestamp): counted.
	feed(3000, true, dtmfPayload('5', false, 0))
	feed(3000, false, dtmfPayload('5', false, 160))
	feed(3000, false, dtmfPayload('5', true, 800))
	// A late duplicate of the first event's end: not counted.
	feed(1000, false, dtmfPayload('5', true, 800))
	// '#' then garbage and a flash-hook event (16): ignored.
	feed(5000, true, dtmfPayload('#', false, 0))
	feed(6000, true, []byte{1, 2})
	feed(7000, true, []byte{16, 0x80, 0, 160})
	if string(got) != "55#" {
		t.Fatalf("digits %q, want 55#", string(got))
	}
}

func TestInfoDigit(t *testing.T) {
	cases := []struct {
		ct, body string
		want     rune
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "Signal= #\r\nDuration=160", '#', true},
		{"application/dtmf-relay", "signal=11\nduration=100", '#', true},
		{"application/dtmf-relay", "Duration=160", 0, false},
		{"application/dtmf", "*", '*', true},
		{"Application/DTMF; charset=x", "7\r\n", '7', true},
		{"application/dtmf", "x", 0, false},
		{"text/plain", "5", 0, false},
	}
	for _, c := range cases {
		got, ok := infoDigit(c.ct, []byte(c.body))
		if ok != c.ok || got != c.want {
			t.Errorf("infoDigit(%q, %q) = %q, %v; want %q, %v", c.ct, c.body, got, ok, c.want, c.ok)
		}
	}
}

func TestParseSDP(t *testing.T) {
	offer := "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
		"m=audio 6000 RTP/AVP 18 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
	info, err := parseSDP([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	if info.addr.String() != "127.0.0.1:6000" || info.dtmfPT != 101 || info.direction != "sendonly" {
		t.Fatalf("parsed %+v", info)
	}
	if pt, ok := chooseCodec(info); !ok || pt != ptPCMA {
		t.Fatalf("codec %d %v, want PCMA", pt, ok)
	}
	if _, err := parseSDP([]byte("v=0\r\nc=IN IP4 example.com\r\nm=audio 1 RTP/AVP 0\r\n")); err == nil {
		t.Fatal("a host name in c= was accepted")
	}
	if _, err := parseSDP([]byte("v=0\r\n")); err == nil {
		t.Fatal("an SDP without audio was accepted")
	}
	hold, err := parseSDP([]byte("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 6000 RTP/AVP 0\r\n"))
	if err != nil || hold.direction != "sendonly" {
		t.Fatalf("RFC 2543 hold: %+v %v", hold, err)
	}
	if answerDirection("sendonly") != "recvonly" || answerDirection("inactive") != "inactive" || answerDirection("sendrecv") != "sendrecv" {
		t.Fatal("answer directions")
	}
}
