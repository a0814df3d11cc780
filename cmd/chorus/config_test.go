package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		"unknown key":   {"lau:\n  compute_ms: 1\n", "lau"},
		"unknown inner": {"lua:\n  compute: 1\n", "compute"},
		"bad duration":  {"web:\n  turn_timeout: soon\n", "duration"},
		"bad rate":      {"limits:\n  web_per_sender: lots\n", "rate"},
		"missing env":   {"admin_key: ${NOT_SET_ANYWHERE_42}\n", "NOT_SET_ANYWHERE_42"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}
