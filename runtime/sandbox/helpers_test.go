package sandbox

import (
	"context"
	"io"
	"log/slog"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestSandbox(t testing.TB, cfg Config) *Sandbox {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	sb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func mustCompile(t testing.TB, name, src string) *lua.FunctionProto {
	t.Helper()
	p, err := Compile(name, []byte(src))
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return p
}

// runScript runs src in a new session and returns the global "result" and
// Run's error.
func runScript(t testing.TB, sb *Sandbox, src string) (lua.LValue, error) {
	t.Helper()
	p := mustCompile(t, "main.lua", src)
	s, err := sb.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Run(p)
	return s.Globals().RawGetString("result"), err
}

// evalString runs "result = <expr>" and returns tostring-like text of the
// result, or the error text.
func evalLua(t testing.TB, sb *Sandbox, src string) string {
	t.Helper()
	v, err := runScript(t, sb, src)
	if err != nil {
		return "error: " + err.Error()
	}
	return v.String()
}
