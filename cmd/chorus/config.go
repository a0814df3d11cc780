package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// fileConfig is the YAML of `chorus serve --config FILE` (spec/config.md).
// Every key is optional; flags and CHORUS_* variables override it.
type fileConfig struct {
	Data     string `yaml:"data"`      // --data
	HTTP     string `yaml:"http"`      // --http
	DB       string `yaml:"db"`        // --db; empty = SQLite in data
	AdminKey string `yaml:"admin_key"` // else generated into data/admin.key

	Web struct {
		TurnTimeout duration `yaml:"turn_timeout"` // longest wait of POST /v1/web/{address}/messages (30s)
	} `yaml:"web"`

	Limits struct {
		WebPerSender rate `yaml:"web_per_sender"` // a web sender is (address, from); 10/s
		SIPPerSource rate `yaml:"sip_per_source"` // SIP requests per source IP; 50/s
		AppMessages  rate `yaml:"app_messages"`   // outbound message()/call() per app; 60/min
	} `yaml:"limits"`

	Lua struct {
		HTTPAllow  []string `yaml:"http_allow"` // host[:port] scripts may reach on loopback/private ranges
		ComputeMS  int      `yaml:"compute_ms"` // compute between two verbs (2000)
		SessionMax duration `yaml:"session_max"`
		MemoryMB   int      `yaml:"memory_mb"` // per session budget (64)
	} `yaml:"lua"`

	// Channels that later issues configure; accepted and validated now so a
	// config file written for them loads.
	SIP      yaml.Node `yaml:"sip"`
	XMPP     yaml.Node `yaml:"xmpp"`
	SMS      yaml.Node `yaml:"sms"`
	Twitter  yaml.Node `yaml:"twitter"`
	Mastodon yaml.Node `yaml:"mastodon"`
	P2P      yaml.Node `yaml:"p2p"`
}

const configReference = `Configuration file (chorus serve --config FILE), YAML. Every key is optional;
flags and CHORUS_* variables override it. Unknown keys are an error. Secrets
may be given as ${ENV_NAME}.

  data: ./chorus-data            # --data
  http: 127.0.0.1:8080           # --http
  db: ""                         # --db; empty = SQLite in data
  admin_key: ${CHORUS_ADMIN_KEY} # optional; else generated into data/admin.key

  web:
    turn_timeout: 30s            # longest wait of POST /v1/web/{address}/messages

  limits:                        # every limit answers 429 / 503 with Retry-After
    web_per_sender: 10/s         # a web sender is (address, from)
    sip_per_source: 50/s         # requests per source IP
    app_messages: 60/min         # outbound message()/call() per app

  lua:
    http_allow: []               # host[:port] patterns scripts may reach even on
                                 # loopback/private ranges, e.g. ["127.0.0.1:8099"]
    compute_ms: 2000             # Lua compute between two blocking verbs
    session_max: 4h
    memory_mb: 64                # per session budget

  sip:, xmpp:, sms:, twitter:, mastodon:, p2p:   channels (see spec/config.md)
`

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func loadConfig(path string) (*fileConfig, error) {
	var c fileConfig
	if path == "" {
		return &c, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var missing []string
	raw = envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("config %s: environment variables %v are not set", path, missing)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("config %s: %w (run `chorus serve --help` for the reference)", path, err)
	}
	return &c, nil
}

// duration is a YAML Go duration ("30s").
type duration struct{ time.Duration }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 4h", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// rate is "N/s" or "N/min".
type rate struct {
	N   float64
	Per time.Duration
}

func (r *rate) UnmarshalYAML(n *yaml.Node) error {
	var num float64
	var unit string
	if _, err := fmt.Sscanf(n.Value, "%g/%s", &num, &unit); err != nil || num <= 0 {
		return fmt.Errorf("line %d: %q is not a rate like 10/s or 60/min", n.Line, n.Value)
	}
	switch unit {
	case "s", "sec":
		r.Per = time.Second
	case "min", "m":
		r.Per = time.Minute
	case "h":
		r.Per = time.Hour
	default:
		return fmt.Errorf("line %d: rate unit %q: want s, min or h", n.Line, unit)
	}
	r.N = num
	return nil
}

func (r rate) perSecond() float64 {
	if r.Per == 0 {
		return 0
	}
	return r.N / r.Per.Seconds()
}
