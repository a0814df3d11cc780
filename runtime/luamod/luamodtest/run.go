package luamodtest

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Run runs the chunk src on L and returns the values it returns. A chunk
// that raises fails the test.
func Run(t testing.TB, L *lua.LState, src string) []lua.LValue {
	t.Helper()
	top := L.GetTop()
	if err := L.DoString(src); err != nil {
		t.Fatalf("script failed: %v\n%s", err, src)
	}
	out := make([]lua.LValue, L.GetTop()-top)
	for i := range out {
		out[i] = L.Get(top + 1 + i)
	}
	L.SetTop(top)
	return out
}
