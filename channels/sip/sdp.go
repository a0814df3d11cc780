package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Payload types and codecs the channel speaks.
const (
	ptPCMU = 0
	ptPCMA = 8
)

// sdpInfo is what the channel needs from an SDP body: the first audio
// stream's address, codecs and direction.
type sdpInfo struct {
	addr      netip.AddrPort // where to send RTP; zero port: stream refused
	payloads  []int          // in the offerer's order of preference
	dtmfPT    int            // telephone-event/8000 payload type, -1 when absent
	direction string         // sendrecv, sendonly, recvonly, inactive
	sessID    string
}

var errNoAudio = errors.New("sdp: no audio stream with a usable address")

// maxSDP bounds an SDP body we parse.
const maxSDP = 16 << 10

// parseSDP reads the parts of an SDP body the channel uses. It is lenient
// (unknown lines are skipped) but refuses bodies without an audio stream.
func parseSDP(body []byte) (sdpInfo, error) {
	if len(body) > maxSDP {
		return sdpInfo{}, fmt.Errorf("sdp: body of %d bytes is larger than %d", len(body), maxSDP)
	}
	info := sdpInfo{dtmfPT: -1, direction: "sendrecv"}
	var sessConn, mediaConn string
	inAudio, seenAudio := false, false
	var port int
	rtpmap := map[int]string{}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r ")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		k, v := line[0], line[2:]
		switch k {
		case 'o':
			if !seenAudio {
				if f := strings.Fields(v); len(f) >= 2 {
					info.sessID = f[1]
				}
			}
		case 'm':
			if seenAudio { // only the first audio stream counts
				inAudio = false
				continue
			}
			f := strings.Fields(v)
			if len(f) < 4 || f[0] != "audio" {
				inAudio = false
				continue
			}
			if !strings.HasPrefix(f[2], "RTP/AVP") {
				inAudio = false
				continue
			}
			p, err := strconv.Atoi(strings.SplitN(f[1], "/", 2)[0])
			if err != nil || p < 0 || p > 65535 {
				return sdpInfo{}, fmt.Errorf("sdp: bad audio port %q", f[1])
			}
			port = p
			for _, s := range f[3:] {
				if pt, err := strconv.Atoi(s); err == nil && pt >= 0 && pt < 128 {
					info.payloads = append(info.payloads, pt)
				}
			}
			inAudio, seenAudio = true, true
		case 'c':
			if inAudio {
				mediaConn = v
			} else if !seenAudio {
				sessConn = v
			}
		case 'a':
			if !inAudio && seenAudio {
				continue
			}
			name, val, _ := strings.Cut(v, ":")
			switch name {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				info.direction = name
			case "rtpmap":
				f := strings.Fields(val)
				if len(f) == 2 {
					if pt, err := strconv.Atoi(f[0]); err == nil && inAudio {
						rtpmap[pt] = strings.ToLower(f[1])
					}
				}
			}
		}
	}
	if !seenAudio {
		return sdpInfo{}, errNoAudio
	}
	for pt, enc := range rtpmap {
		if strings.HasPrefix(enc, "telephone-event/8000") {
			info.dtmfPT = pt
		}
	}
	conn := mediaConn
	if conn == "" {
		conn = sessConn
	}
	f := strings.Fields(conn)
	if len(f) < 3 || f[0] != "IN" {
		return sdpInfo{}, fmt.Errorf("sdp: bad or missing connection line %q", conn)
	}
	ip, err := netip.ParseAddr(strings.SplitN(f[2], "/", 2)[0])
	if err != nil {
		return sdpInfo{}, fmt.Errorf("sdp: connection address %q is not an IP address (host names are not supported)", f[2])
	}
	if ip.IsUnspecified() && info.direction == "sendrecv" { // RFC 2543 hold
		info.direction = "sendonly"
	}
	// keep the rtpmap of static types implicit
	info.addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	return info, nil
}

// chooseCodec picks the first offered payload type we speak.
func chooseCodec(offer sdpInfo) (int, bool) {
	for _, pt := range offer.payloads {
		if pt == ptPCMU || pt == ptPCMA {
			return pt, true
		}
	}
	return 0, false
}

// answerDirection is the direction we answer an offered one with.
func answerDirection(offered string) string {
	switch offered {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

// buildSDP writes our SDP: one audio stream at ip:port with the given
// codecs (a codec pt first, then the telephone-event pt if >= 0).
func buildSDP(sessID, version uint64, ip netip.Addr, port int, codecs []int, dtmfPT int, direction string) []byte {
	fam := "IP4"
	if ip.Is6() {
		fam = "IP6"
	}
	var b strings.Builder
	b.WriteString("v=0\r\n")
	fmt.Fprintf(&b, "o=chorus %d %d IN %s %s\r\n", sessID, version, fam, ip)
	b.WriteString("s=chorus\r\n")
	fmt.Fprintf(&b, "c=IN %s %s\r\n", fam, ip)
	b.WriteString("t=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", port)
	for _, pt := range codecs {
		fmt.Fprintf(&b, " %d", pt)
	}
	if dtmfPT >= 0 {
		fmt.Fprintf(&b, " %d", dtmfPT)
	}
	b.WriteString("\r\n")
	for _, pt := range codecs {
		switch pt {
		case ptPCMU:
			b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
		case ptPCMA:
			b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
		}
	}
	if dtmfPT >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", dtmfPT, dtmfPT)
	}
	b.WriteString("a=ptime:20\r\n")
	b.WriteString("a=" + direction + "\r\n")
	return []byte(b.String())
}
