package sipcheck_test

import (
	"fmt"

	"github.com/emiago/sipgo/sip"

	"github.com/chorus-dev/chorus/channels/sip/sipcheck"
)

func ExampleRequest() {
	data := "OPTIONS sip:weather@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
		"To: <sip:weather@example.com>\r\n" +
		"From: <sip:alice@example.net>;tag=1\r\n" +
		"Call-ID: 1@example.net\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Require: 100rel\r\n" +
		"Content-Length: 0\r\n\r\n"
	msg, err := sip.NewParser().ParseSIP([]byte(data))
	if err != nil {
		fmt.Println("dropped:", err)
		return
	}
	v := sipcheck.Request(msg.(*sip.Request))
	fmt.Println(v.Status, v.Reason, v.Headers["Unsupported"])
	// Output: 420 Bad Extension 100rel
}
