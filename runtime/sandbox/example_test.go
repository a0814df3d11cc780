package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/sandbox"
)

// A session runs a precompiled script with the engine's verbs added to its
// globals. A verb that waits calls Blocking first, so the wait does not count
// against the compute limit.
func Example() {
	sb, err := sandbox.New(sandbox.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	proto, err := sandbox.Compile("main.lua", []byte(`
		wait(10)
		say(string.format("%s has %d letters", name, #name))
		while true do end -- stopped by the compute limit`))
	if err != nil {
		panic(err)
	}

	s, err := sb.Start(context.Background())
	if err != nil {
		panic(err)
	}
	defer s.Close()
	g, L := s.Globals(), s.L()
	g.RawSetString("name", lua.LString("Chorus"))
	g.RawSetString("say", L.NewFunction(func(L *lua.LState) int {
		fmt.Println(L.CheckString(1))
		return 0
	}))
	g.RawSetString("wait", L.NewFunction(func(L *lua.LState) int {
		d := time.Duration(L.CheckInt(1)) * time.Millisecond
		resume := s.Blocking()
		select {
		case <-time.After(d):
		case <-s.Context().Done():
		}
		resume()
		return 0
	}))

	err = s.Run(proto)
	var limit *sandbox.LimitError
	if errors.As(err, &limit) {
		fmt.Println(limit.Kind, "-", err)
	}
	// Output:
	// Chorus has 6 letters
	// compute - limit: ran Lua for more than 2s without waiting for input
}

func ExampleCompile() {
	_, err := sandbox.Compile("main.lua", []byte("local x = 1\nx = = 2"))
	fmt.Println(err)
	// Output: main.lua:2: syntax error near '='
}
