package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
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
		TurnTimeout      duration `yaml:"turn_timeout"`      // longest wait of POST /v1/web/{address}/messages (30s)
		MaxConversations int      `yaml:"max_conversations"` // live web conversations at once (10000); past it 503
	} `yaml:"web"`

	Limits struct {
		WebPerSender rate `yaml:"web_per_sender"` // a web sender is (address, from); 10/s
		WebPerIP     rate `yaml:"web_per_ip"`     // web requests per client IP, whatever its senders; 50/s
		SIPPerSource rate `yaml:"sip_per_source"` // SIP requests per source IP; 50/s
		AppMessages  rate `yaml:"app_messages"`   // outbound message()/call() per app; 60/min
	} `yaml:"limits"`

	Lua struct {
		HTTPAllow  []string `yaml:"http_allow"` // host[:port] scripts may reach on loopback/private ranges
		ComputeMS  int      `yaml:"compute_ms"` // compute between two verbs (2000)
		SessionMax duration `yaml:"session_max"`
		MemoryMB   int      `yaml:"memory_mb"` // per session budget (64)
	} `yaml:"lua"`

	XMPP xmppConfig `yaml:"xmpp"`
	SMS  smsConfig  `yaml:"sms"`
	SIP  sipConfig  `yaml:"sip"`

	// Channels that later issues configure; accepted so a config file
	// written for them loads.
	Twitter  yaml.Node `yaml:"twitter"`
	Mastodon yaml.Node `yaml:"mastodon"`
	P2P      yaml.Node `yaml:"p2p"`
}

// xmppConfig is the xmpp: section. Accounts (bare JID + password) are not
// here: they come with each address (POST /v1/addresses).
type xmppConfig struct {
	Components     []xmppComponent `yaml:"components"`      // XEP-0114
	AllowPlaintext bool            `yaml:"allow_plaintext"` // c2s without TLS (tests, loopback)
}

type xmppComponent struct {
	Domain string `yaml:"domain"` // each app bound to <name>@domain answers
	Server string `yaml:"server"` // host:port of the server's component port
	Secret string `yaml:"secret"`
}

// sipConfig is the sip: section.
type sipConfig struct {
	Listen     string   `yaml:"listen"`      // UDP and TCP (127.0.0.1:5060)
	TLSListen  string   `yaml:"tls_listen"`  // with tls_cert / tls_key
	TLSCert    string   `yaml:"tls_cert"`    // PEM files
	TLSKey     string   `yaml:"tls_key"`     //
	WSListen   string   `yaml:"ws_listen"`   // SIP over WebSocket
	Domain     string   `yaml:"domain"`      // host part of the apps' sip: addresses (localhost)
	RTPPorts   string   `yaml:"rtp_ports"`   // "20000-30000"
	TTS        string   `yaml:"tts"`         // flite or espeak-ng
	RTPTimeout duration `yaml:"rtp_timeout"` // media silence before a call is torn down (30s)
	RTPLatch   bool     `yaml:"rtp_latch"`   // symmetric RTP: answer the first media source (phones behind NAT)
}

// ports parses rtp_ports ("20000-30000"; empty: the default range).
func (c sipConfig) ports() (lo, hi int, err error) {
	if c.RTPPorts == "" {
		return 20000, 30000, nil
	}
	if _, err := fmt.Sscanf(c.RTPPorts, "%d-%d", &lo, &hi); err != nil || lo < 1024 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("sip.rtp_ports %q: want a range such as 20000-30000 within 1024-65535", c.RTPPorts)
	}
	return lo, hi, nil
}

// smsConfig is the sms: section: the routes SMS addresses name.
type smsConfig struct {
	SMPP []smppRoute `yaml:"smpp"`
	HTTP []httpRoute `yaml:"http"`
}

type smppRoute struct {
	Name            string  `yaml:"name"`
	Addr            string  `yaml:"addr"`
	SystemID        string  `yaml:"system_id"`
	Password        string  `yaml:"password"`
	SystemType      string  `yaml:"system_type"`
	SubmitPerSecond float64 `yaml:"submit_per_second"`
	Window          int     `yaml:"window"`
}

type httpRoute struct {
	Name        string `yaml:"name"`
	BaseURL     string `yaml:"base_url"`
	Account     string `yaml:"account"`
	Token       string `yaml:"token"`
	WebhookPath string `yaml:"webhook_path"`
}

const configReference = `Configuration file (chorus serve --config FILE), YAML. Every key is optional;
flags and CHORUS_* variables override it. Unknown keys are an error. Secrets
may be given as ${ENV_NAME} in any value (quote it inside [ ] or { }); the
variable's text is taken as it is, and ${...} in comments is ignored.

  data: ./chorus-data            # --data
  http: 127.0.0.1:8080           # --http
  db: ""                         # --db; empty = SQLite in data
  admin_key: ${CHORUS_ADMIN_KEY} # optional; else generated into data/admin.key

  web:
    turn_timeout: 30s            # longest wait of POST /v1/web/{address}/messages
    max_conversations: 10000     # live web conversations at once; past it 503 + Retry-After

  limits:                        # every limit answers 429 / 503 with Retry-After
    web_per_sender: 10/s         # a web sender is (address, from)
    web_per_ip: 50/s             # web requests per client IP, whatever senders it names
    sip_per_source: 50/s         # requests per source IP
    app_messages: 60/min         # outbound message()/call() per app

  lua:
    http_allow: []               # host[:port] patterns scripts may reach even on
                                 # loopback/private ranges, e.g. ["127.0.0.1:8099"]
    compute_ms: 2000             # Lua compute between two blocking verbs
    session_max: 4h
    memory_mb: 64                # per session budget

  xmpp:
    components:                  # XEP-0114; each app bound to <name>@domain answers
      - domain: apps.localhost
        server: 127.0.0.1:5347
        secret: ${XMPP_COMPONENT_SECRET}
    allow_plaintext: false       # plain c2s without TLS (tests, loopback)
                                 # (accounts come with their addresses:
                                 # POST /v1/addresses {"network":"xmpp", "credentials":{...}})

  sms:
    smpp:                        # SMPP 3.4 links to operators' SMSCs (transceiver)
      - name: main
        addr: 127.0.0.1:2775
        system_id: chorus
        password: ${SMPP_PASSWORD}
        system_type: ""
        submit_per_second: 50
        window: 10               # submit_sm in flight
    http:                        # web-API SMS providers (Twilio-shaped)
      - name: provider
        base_url: https://api.example.com
        account: AC123
        token: ${SMS_TOKEN}      # also the webhook signing key
        webhook_path: /v1/sms/provider   # inbound webhook mounted here
                                 # (an SMS address names its route: "route": "main")

  sip:
    listen: 127.0.0.1:5060       # UDP and TCP (--sip)
    tls_listen: ""               # with tls_cert / tls_key (PEM files)
    ws_listen: ""
    domain: localhost            # the host part of sip: addresses of apps
    rtp_ports: 20000-30000
    tts: flite                   # or espeak-ng
    rtp_timeout: 30s             # no media for this long ends the call
    rtp_latch: false             # true: media from the first source (phones behind NAT),
                                 # else only from the address in their SDP

  twitter:, mastodon:, p2p:      channels of later releases (see spec/config.md)
`

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadConfig reads the YAML at path. The text is parsed first; ${NAME} is
// then replaced in scalar values only (never in keys or comments), so a
// value from the environment is always one whole scalar, whatever
// characters it holds. Unknown keys are an error, as with the decoder's
// KnownFields, reported at their line in the file.
func loadConfig(path string) (*fileConfig, error) {
	var c fileConfig
	if path == "" {
		return &c, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &c, nil // empty file
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if missing := substituteEnv(&doc); len(missing) > 0 {
		return nil, fmt.Errorf("config %s: environment variables %v are not set", path, missing)
	}
	var unknown []string
	knownKeys(&doc, reflect.TypeOf(c), "", &unknown, 0)
	if len(unknown) > 0 {
		return nil, fmt.Errorf("config %s: %s (run `chorus serve --help` for the reference)", path, strings.Join(unknown, "; "))
	}
	if err := doc.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w (run `chorus serve --help` for the reference)", path, err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// validate checks what the decoder cannot: required keys of the channel
// sections and unique route names.
func (c *fileConfig) validate() error {
	var errs []string
	need := func(where, key, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Sprintf("%s: %s is required", where, key))
		}
	}
	domains := map[string]bool{}
	for i, comp := range c.XMPP.Components {
		where := fmt.Sprintf("xmpp.components[%d]", i)
		need(where, "domain", comp.Domain)
		need(where, "server", comp.Server)
		need(where, "secret", comp.Secret)
		if d := strings.ToLower(comp.Domain); d != "" && domains[d] {
			errs = append(errs, fmt.Sprintf("%s: domain %s is configured twice", where, comp.Domain))
		}
		domains[strings.ToLower(comp.Domain)] = true
	}
	if _, _, err := c.SIP.ports(); err != nil {
		errs = append(errs, err.Error())
	}
	switch c.SIP.TTS {
	case "", "flite", "espeak-ng":
	default:
		errs = append(errs, fmt.Sprintf("sip.tts %q: want flite or espeak-ng", c.SIP.TTS))
	}
	if c.SIP.TLSListen != "" && (c.SIP.TLSCert == "" || c.SIP.TLSKey == "") {
		errs = append(errs, "sip.tls_listen needs sip.tls_cert and sip.tls_key")
	}
	routes := map[string]bool{}
	route := func(where, name string) {
		need(where, "name", name)
		if name != "" && routes[name] {
			errs = append(errs, fmt.Sprintf("%s: route name %q is used twice (SMPP and HTTP routes share one namespace)", where, name))
		}
		routes[name] = true
	}
	for i, l := range c.SMS.SMPP {
		where := fmt.Sprintf("sms.smpp[%d]", i)
		route(where, l.Name)
		need(where, "addr", l.Addr)
		need(where, "system_id", l.SystemID)
		if l.SubmitPerSecond < 0 || l.Window < 0 {
			errs = append(errs, where+": submit_per_second and window must not be negative")
		}
	}
	paths := map[string]bool{}
	for i, h := range c.SMS.HTTP {
		where := fmt.Sprintf("sms.http[%d]", i)
		route(where, h.Name)
		need(where, "base_url", h.BaseURL)
		need(where, "account", h.Account)
		need(where, "token", h.Token)
		switch {
		case !strings.HasPrefix(h.WebhookPath, "/") || strings.ContainsAny(h.WebhookPath, "{}*?#"):
			errs = append(errs, fmt.Sprintf("%s: webhook_path %q must be a plain path such as /v1/sms/%s", where, h.WebhookPath, h.Name))
		case paths[h.WebhookPath]:
			errs = append(errs, fmt.Sprintf("%s: webhook_path %s is used twice", where, h.WebhookPath))
		}
		paths[h.WebhookPath] = true
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// substituteEnv replaces ${NAME} in every scalar value under n (mapping
// keys are left alone) and returns the names that are not set, in order.
// Each node is visited once: aliases share their anchor's node, and a
// value from the environment is not scanned again.
func substituteEnv(n *yaml.Node) (missing []string) {
	seen := map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i])
			}
		case yaml.ScalarNode:
			if !strings.Contains(n.Value, "${") {
				return
			}
			v := envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				name := m[2 : len(m)-1]
				v, ok := os.LookupEnv(name)
				if !ok && !seen[name] {
					seen[name] = true
					missing = append(missing, name)
				}
				return v
			})
			if v == n.Value {
				return
			}
			n.Value = v
			// A plain scalar takes the type its new text has (a number
			// for compute_ms: ${N}, nothing when empty), except that a
			// variable's text is never null: "null" or "~" stays a string.
			// Quoted, block and explicitly tagged scalars keep their tag.
			if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				n.Tag = ""
				n.Tag = n.ShortTag()
				if n.Tag == "!!null" && v != "" {
					n.Tag = "!!str"
				}
			}
		}
	}
	walk(n)
	return missing
}

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// knownKeys appends an error for every mapping key under n that t, the Go
// type n decodes into, has no field for: what yaml.v3's KnownFields does
// (Node.Decode has no such option), but with the key's line in the file.
// Maps take any key; yaml.Node and Unmarshaler values check themselves.
func knownKeys(n *yaml.Node, t reflect.Type, where string, errs *[]string, depth int) {
	if n == nil || depth > 100 {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			knownKeys(c, t, where, errs, depth+1)
		}
		return
	case yaml.AliasNode:
		knownKeys(n.Alias, t, where, errs, depth+1)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields := map[string]reflect.Type{}
		anyKey := structFields(t, fields) // an ",inline" map takes the other keys
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				// <<: *base (or a list of them) merges into this struct.
				if v.Kind == yaml.SequenceNode {
					for _, m := range v.Content {
						knownKeys(m, t, where, errs, depth+1)
					}
				} else {
					knownKeys(v, t, where, errs, depth+1)
				}
				continue
			}
			ft, ok := fields[k.Value]
			if !ok && anyKey {
				continue
			}
			if !ok {
				in := ""
				if where != "" {
					in = " in " + where
				}
				*errs = append(*errs, fmt.Sprintf("line %d: unknown key %q%s", k.Line, k.Value, in))
				continue
			}
			knownKeys(v, ft, joinKey(where, k.Value), errs, depth+1)
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				knownKeys(n.Content[i+1], t.Elem(), joinKey(where, n.Content[i].Value), errs, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				knownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", where, i), errs, depth+1)
			}
		}
	}
}

// structFields maps the YAML keys of struct t to their types, as yaml.v3
// names them: the yaml tag's name, else the lowercased field name; ",inline"
// structs add their keys; "-" and unexported fields have none. anyKey is
// true when an ",inline" map takes every other key.
func structFields(t reflect.Type, out map[string]reflect.Type) (anyKey bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				anyKey = structFields(ft, out) || anyKey
			case reflect.Map:
				anyKey = true
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return anyKey
}

func joinKey(where, k string) string {
	if where == "" {
		return k
	}
	return where + "." + k
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
