package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func writeConfig(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "chorus.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFile(t *testing.T) {
	t.Setenv("TEST_ADMIN_KEY", "chorus_from_env")
	c, err := loadConfig(writeConfig(t, `
data: /tmp/x
admin_key: ${TEST_ADMIN_KEY}
web:
  turn_timeout: 5s
limits:
  web_per_sender: 20/s
  app_messages: 60/min
lua:
  http_allow: ["127.0.0.1:8099"]
  compute_ms: 500
  memory_mb: 32
sip:
  listen: 127.0.0.1:5060
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminKey != "chorus_from_env" || c.Web.TurnTimeout.Duration != 5*time.Second ||
		c.Limits.WebPerSender.perSecond() != 20 || c.Limits.AppMessages.perSecond()*60 != 60 ||
		c.Lua.ComputeMS != 500 || c.Lua.MemoryMB != 32 || c.Lua.HTTPAllow[0] != "127.0.0.1:8099" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":                   {"lau:\n  compute_ms: 1\n", "lau"},
		"unknown inner":                 {"lua:\n  compute: 1\n", "compute"},
		"bad duration":                  {"web:\n  turn_timeout: soon\n", "duration"},
		"bad rate":                      {"limits:\n  web_per_sender: lots\n", "rate"},
		"missing env":                   {"admin_key: ${NOT_SET_ANYWHERE_42}\n", "NOT_SET_ANYWHERE_42"},
		"xmpp component without secret": {"xmpp:\n  components:\n    - domain: apps.localhost\n      server: 127.0.0.1:5347\n", "xmpp.components[0]: secret is required"},
		"xmpp unknown key":              {"xmpp:\n  allow_plain: true\n", "allow_plain"},
		"smpp without addr":             {"sms:\n  smpp:\n    - name: main\n      system_id: x\n", "sms.smpp[0]: addr is required"},
		"route named twice": {"sms:\n  smpp:\n    - {name: main, addr: '127.0.0.1:2775', system_id: x}\n  http:\n    - {name: main, base_url: 'http://x', account: a, token: t, webhook_path: /v1/sms/main}\n",
			`route name "main" is used twice`},
		"sip rtp ports":           {"sip:\n  rtp_ports: 30000-20000\n", "sip.rtp_ports"},
		"sip tts":                 {"sip:\n  tts: say\n", "sip.tts"},
		"sip tls without cert":    {"sip:\n  tls_listen: 127.0.0.1:5061\n", "tls_cert"},
		"webhook path not a path": {"sms:\n  http:\n    - {name: p, base_url: 'http://x', account: a, token: t, webhook_path: 'sms/p'}\n", "webhook_path"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestConfigEnvValuesAreScalars: ${NAME} is replaced after parsing, in
// values only, so a secret with YAML syntax in it is taken as it is, and a
// ${NAME} in a comment needs no variable.
func TestConfigEnvValuesAreScalars(t *testing.T) {
	for _, secret := range []string{
		"p@ss: #[x]*", "[a, b]", "*notalias", "&anchor", "%TAG", "@at", "`tick",
		"{x: 1}", "a #b", "- item", "? q", "!tag", "|", ">", "'q\"", "null", "~", "true", "123", " spaced ",
		"two\nlines", "${NOT_SET_ANYWHERE_42}",
	} {
		t.Run(secret, func(t *testing.T) {
			t.Setenv("TEST_SECRET", secret)
			t.Setenv("TEST_HOST", "h.example")
			t.Setenv("TEST_MS", "750")
			c, err := loadConfig(writeConfig(t, `
# Set ${UNSET_IN_COMMENT_42} before starting.
admin_key: ${TEST_SECRET}   # the key, ${ALSO_UNSET_42}
http: "${TEST_HOST}:8080"
db: 'x-${TEST_SECRET}-y'
lua:
  compute_ms: ${TEST_MS}
  http_allow: ["${TEST_SECRET}", "${TEST_HOST}:1"]
twitter:
  password: ${TEST_SECRET}
`))
			if err != nil {
				t.Fatal(err)
			}
			if c.AdminKey != secret || c.HTTP != "h.example:8080" || c.DB != "x-"+secret+"-y" ||
				c.Lua.ComputeMS != 750 || len(c.Lua.HTTPAllow) != 2 || c.Lua.HTTPAllow[0] != secret || c.Lua.HTTPAllow[1] != "h.example:1" {
				t.Fatalf("parsed %+v", c)
			}
			var tw struct{ Password string }
			if err := c.Twitter.Decode(&tw); err != nil || tw.Password != secret {
				t.Fatalf("twitter.password = %q, %v", tw.Password, err)
			}
		})
	}
}

func TestConfigEnvEdges(t *testing.T) {
	t.Setenv("TEST_EMPTY", "")
	t.Setenv("TEST_MS", "250")
	t.Setenv("TEST_KEY", "data")
	c, err := loadConfig(writeConfig(t, `
admin_key: ${TEST_EMPTY}
p2p: &base
  compute_ms: ${TEST_MS}
lua:
  <<: *base
  memory_mb: ${TEST_EMPTY}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminKey != "" || c.Lua.ComputeMS != 250 || c.Lua.MemoryMB != 0 {
		t.Fatalf("parsed %+v", c)
	}
	// Keys are not substituted.
	if _, err := loadConfig(writeConfig(t, "${TEST_KEY}: /tmp\n")); err == nil || !strings.Contains(err.Error(), "${TEST_KEY}") {
		t.Fatalf("a ${} key: err = %v", err)
	}
	// Every missing variable is named once.
	_, err = loadConfig(writeConfig(t, "admin_key: ${MISSING_A_42}\nhttp: ${MISSING_B_42}${MISSING_A_42}\n"))
	if err == nil || !strings.Contains(err.Error(), "[MISSING_A_42 MISSING_B_42]") {
		t.Fatalf("missing: err = %v", err)
	}
	// A type error still names the value's line in the file.
	_, err = loadConfig(writeConfig(t, "\n# comment\n\nlua:\n\n  compute_ms: ${TEST_KEY}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("type error: err = %v", err)
	}
}

// TestConfigUnknownKeys: unknown keys are reported as yaml.v3's KnownFields
// would (the same files fail), at their line in the file.
func TestConfigUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		yaml    string
		unknown string // "" when the file is fine
	}{
		{"data: x\nweb:\n  turn_timeout: 1s\n", ""},
		{"\n# comment\n\nweb:\n\n  # more\n  turn_time: 1s\n", `line 7: unknown key "turn_time" in web`},
		{"limits:\n  app_message: 1/s\n", `"app_message" in limits`},
		{"p2p:\n  anything: [1, 2]\n  deep: {x: y}\n", ""},
		{"p2p: &b {nope: 1}\nlua:\n  <<: *b\n", `"nope" in lua`},
		{"p2p: &b {memory_mb: 1}\nlua:\n  <<: [*b]\n  compute_ms: 3\n", ""},
		{"lua: &l {memory_mb: 1}\nweb: *l\n", `"memory_mb" in web`},
		{"lua:\n  http_allow: [a, b]\n", ""},
		{"Data: x\n", `"Data"`},
		{"web: null\nlua:\n", ""},
	} {
		_, err := loadConfig(writeConfig(t, tc.yaml))
		if tc.unknown == "" && err != nil || tc.unknown != "" && (err == nil || !strings.Contains(err.Error(), tc.unknown)) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.unknown)
		}
		var c fileConfig
		dec := yaml.NewDecoder(strings.NewReader(tc.yaml))
		dec.KnownFields(true)
		if strict := dec.Decode(&c); (strict != nil) != (err != nil) {
			t.Errorf("%q: KnownFields decoder says %v, loadConfig %v", tc.yaml, strict, err)
		}
	}
}

func TestConfigChannels(t *testing.T) {
	t.Setenv("TEST_SMPP_PW", "s3cret")
	c, err := loadConfig(writeConfig(t, `
xmpp:
  components:
    - domain: apps.localhost
      server: 127.0.0.1:5347
      secret: x
  allow_plaintext: true
sms:
  smpp:
    - name: main
      addr: 127.0.0.1:2775
      system_id: chorus
      password: ${TEST_SMPP_PW}
      submit_per_second: 5
      window: 4
  http:
    - name: provider
      base_url: http://127.0.0.1:9
      account: AC1
      token: tok
      webhook_path: /v1/sms/provider
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.XMPP.Components) != 1 || c.XMPP.Components[0].Domain != "apps.localhost" || !c.XMPP.AllowPlaintext ||
		len(c.SMS.SMPP) != 1 || c.SMS.SMPP[0].Password != "s3cret" || c.SMS.SMPP[0].Window != 4 || c.SMS.SMPP[0].SubmitPerSecond != 5 ||
		len(c.SMS.HTTP) != 1 || c.SMS.HTTP[0].WebhookPath != "/v1/sms/provider" {
		t.Fatalf("parsed %+v", c)
	}
}
