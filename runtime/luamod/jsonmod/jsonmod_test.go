package jsonmod

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod/luamodtest"
)

// newState returns a Lua state with the base library and json opened on its
// globals, bound to h.
func newState(t testing.TB, h *luamodtest.Host, lim Limits) *lua.LState {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	Open(L, L.G.Global, h, lim)
	return L
}

var run = luamodtest.Run

func TestEncode(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`nil`, `null`},
		{`true`, `true`},
		{`false`, `false`},
		{`0`, `0`},
		{`-0.0`, `-0`},
		{`42`, `42`},
		{`-1.5`, `-1.5`},
		{`123456789012`, `123456789012`},
		{`1e21`, `1e+21`},
		{`1e-7`, `1e-7`},
		{`0.000001`, `0.000001`},
		{`"hi"`, `"hi"`},
		{`"a\"b\\c\n\r\t\1\31/<&>"`, `"a\"b\\c\n\r\t\u0001\u001f/<&>"`},
		{`"caf\195\169"`, `"café"`},
		{`"bad\255utf8"`, `"bad\ufffdutf8"`},
		{`"\226\128\168"`, `"\u2028"`},
		{`{}`, `[]`},
		{`{1, 2, "three"}`, `[1,2,"three"]`},
		{`{b = 1, a = {true, false}, c = {}}`, `{"a":[true,false],"b":1,"c":[]}`},
		{`{[1] = "x", [2] = "y"}`, `["x","y"]`},
		{`json.null`, `null`},
		{`{a = json.null, b = {json.null}}`, `{"a":null,"b":[null]}`},
		{`(function() local s = {1}; return {a = s, b = s} end)()`, `{"a":[1],"b":[1]}`},
		{`setmetatable({x = 1}, {__index = function() return 2 end})`, `{"x":1}`},
	} {
		h := &luamodtest.Host{}
		L := newState(t, h, Limits{})
		got := run(t, L, "return json.encode("+tc.expr+")")
		if len(got) != 1 || got[0].String() != tc.want {
			t.Errorf("json.encode(%s) = %v, want %s", tc.expr, got, tc.want)
			continue
		}
		if h.Charged() != int64(len(tc.want)) {
			t.Errorf("json.encode(%s) charged %d, want %d", tc.expr, h.Charged(), len(tc.want))
		}
	}
}

func TestEncodeFailures(t *testing.T) {
	for _, tc := range []struct {
		setup, expr string
		lim         Limits
		want        string
		is          error
	}{
		{expr: `{1, nil, 3}`, want: "json: cannot encode sparse array", is: ErrSparseArray},
		{expr: `{[2] = 1}`, want: "cannot encode sparse array", is: ErrSparseArray},
		{expr: `{[2^40] = 1}`, want: "cannot encode sparse array", is: ErrSparseArray},
		{expr: `{a = {x = {1, nil, 3}}}`, want: "cannot encode sparse array at a.x", is: ErrSparseArray},
		{expr: `{1, a = 2}`, want: "json: cannot encode mixed or invalid key types", is: ErrMixedKeys},
		{expr: `{[1.5] = 1}`, want: "mixed or invalid key types", is: ErrMixedKeys},
		{expr: `{[true] = 1}`, want: "mixed or invalid key types", is: ErrMixedKeys},
		{expr: `{[0] = 1}`, want: "mixed or invalid key types", is: ErrMixedKeys},
		{expr: `print`, want: "json: cannot encode function", is: ErrType},
		{expr: `{list = {1, 2, print}}`, want: "cannot encode function at list[3]", is: ErrType},
		{expr: `coroutine.create(print)`, want: "cannot encode thread", is: ErrType},
		{expr: `0/0`, want: "json: cannot encode NaN", is: ErrType},
		{expr: `{n = 1/0}`, want: "cannot encode +Inf at n", is: ErrType},
		{setup: `t = {}; t.self = t`, expr: `t`, want: "json: cannot encode recursively nested tables at self", is: ErrCycle},
		{setup: `t = {{}}; t[1][1] = {t}`, expr: `t`, want: "recursively nested tables at [1][1][1]", is: ErrCycle},
		{setup: `t = {}; for i = 1, 200 do t = {t} end`, expr: `t`, want: "json: nesting deeper than 200", is: ErrTooDeep},
		{setup: `t = {}; for i = 1, 3 do t = {t} end`, expr: `t`, lim: Limits{MaxDepth: 3}, want: "nesting deeper than 3", is: ErrTooDeep},
		{expr: `string.rep("x", 100)`, lim: Limits{MaxSize: 64}, want: "json: output larger than 64 bytes", is: ErrTooLarge},
		{expr: `{string.rep("x", 30), string.rep("y", 30), 1}`, lim: Limits{MaxSize: 64}, want: "output larger than 64 bytes", is: ErrTooLarge},
		// Each level doubles the output: 2^100 copies of {} stop at the cap.
		{setup: `t = {}; for i = 1, 100 do t = {t, t} end`, expr: `t`, lim: Limits{MaxSize: 1 << 20}, want: "json: output larger than 1 MiB", is: ErrTooLarge},
	} {
		h := &luamodtest.Host{}
		L := newState(t, h, tc.lim)
		got := run(t, L, tc.setup+"\nreturn json.encode("+tc.expr+")")
		if len(got) != 2 || got[0] != lua.LNil || !strings.Contains(got[1].String(), tc.want) {
			t.Errorf("json.encode(%s) = %v, want nil, %q", tc.expr, got, tc.want)
		}
		if h.Charged() != 0 {
			t.Errorf("json.encode(%s) charged %d for a failure", tc.expr, h.Charged())
		}
		v := run(t, L, tc.setup+"\nreturn "+tc.expr)[0]
		if _, err := Encode(v, tc.lim); !errors.Is(err, tc.is) {
			t.Errorf("Encode(%s) error %v, want %v", tc.expr, err, tc.is)
		}
	}
}

func TestEncodeDepthLimitIsInclusive(t *testing.T) {
	L := newState(t, &luamodtest.Host{}, Limits{})
	got := run(t, L, `local t = {}; for i = 1, 199 do t = {t} end; return json.encode(t)`)
	if want := strings.Repeat("[", 200) + strings.Repeat("]", 200); got[0].String() != want {
		t.Fatalf("200 levels: %v", got)
	}
}

func TestDecode(t *testing.T) {
	L := newState(t, &luamodtest.Host{}, Limits{})
	got := run(t, L, `
		local v = json.decode(' {"a": [1, 2.5, -3e2, true, false, null, "x"], "b": {"c": "d"}, "e": null, "f": {}, "g": []} ')
		return v.a[1], v.a[2], v.a[3], v.a[4], v.a[5], v.a[6], v.a[7], v.b.c, v.e, type(v.f), next(v.f), type(v.g), next(v.g), #v.a
	`)
	want := []lua.LValue{lua.LNumber(1), lua.LNumber(2.5), lua.LNumber(-300), lua.LTrue, lua.LFalse, lua.LNil, lua.LString("x"),
		lua.LString("d"), lua.LNil, lua.LString("table"), lua.LNil, lua.LString("table"), lua.LNil, lua.LNumber(7)}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d = %v, want %v", i+1, got[i], want[i])
		}
	}

	for _, tc := range []struct{ in, want string }{
		{`"caf\u00e9 \ud83d\ude00"`, "café 😀"},
		{`"\ud83d"`, "\uFFFD"},
		{`"\ud83d\u0041"`, "\uFFFDA"},
		{`"\ude00\ud83d\ude00"`, "\uFFFD😀"},
		{"\"bad\xffutf8\"", "bad\uFFFDutf8"},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"<&>"`, "<&>"},
		{`123`, "123"},
		{`1E+2`, "100"},
		{`-0.5e-1`, "-0.05"},
	} {
		got := call(t, L, "decode", lua.LString(tc.in))
		if len(got) != 1 || got[0].String() != tc.want {
			t.Errorf("json.decode(%s) = %v, want %q", tc.in, got, tc.want)
		}
	}
}

// call calls json[name](args...) and returns what it returns, or fails the
// test when it raises.
func call(t testing.TB, L *lua.LState, name string, args ...lua.LValue) []lua.LValue {
	t.Helper()
	out, err := pcall(L, name, args...)
	if err != nil {
		t.Fatalf("json.%s raised: %v", name, err)
	}
	return out
}

func pcall(L *lua.LState, name string, args ...lua.LValue) ([]lua.LValue, error) {
	fn := L.GetField(L.GetGlobal("json"), name)
	top := L.GetTop()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	if err := L.PCall(len(args), lua.MultRet, nil); err != nil {
		return nil, err
	}
	out := make([]lua.LValue, L.GetTop()-top)
	for i := range out {
		out[i] = L.Get(top + 1 + i)
	}
	L.SetTop(top)
	return out, nil
}

func TestDecodeNullsLeaveHoles(t *testing.T) {
	L := newState(t, &luamodtest.Host{}, Limits{})
	got := run(t, L, `
		local a = json.decode('[1, null, 3]')
		local o = json.decode('{"a": 1, "a": null, "b": null, "c": 2}')
		local n = 0; for _ in pairs(o) do n = n + 1 end
		return a[1], a[2], a[3], o.a, o.b, o.c, n, json.decode('null')
	`)
	want := []lua.LValue{lua.LNumber(1), lua.LNil, lua.LNumber(3), lua.LNil, lua.LNil, lua.LNumber(2), lua.LNumber(1), lua.LNil}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d = %v, want %v", i+1, got[i], want[i])
		}
	}
}

func TestDecodeFailuresReturnNilErr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		lim  Limits
		want string
		is   error
	}{
		{in: ``, want: "json: unexpected end of input at offset 0"},
		{in: `   `, want: "unexpected end of input at offset 3"},
		{in: `{`, want: "unexpected end of input in object"},
		{in: `[1,]`, want: "invalid character ']' looking for beginning of value at offset 3"},
		{in: `[1 2]`, want: "invalid character '2' after array element at offset 3"},
		{in: `{"a" 1}`, want: "invalid character '1' after object key at offset 5"},
		{in: `{"a":1 "b":2}`, want: "after object key:value pair at offset 7"},
		{in: `{a:1}`, want: "looking for beginning of object key string at offset 1"},
		{in: `tru`, want: "unexpected end of input in literal true"},
		{in: `trUe`, want: "invalid character 'U' in literal true at offset 2"},
		{in: `nul`, want: "in literal null"},
		{in: `01`, want: "invalid character '1' after top-level value at offset 1"},
		{in: `1 2`, want: "after top-level value at offset 2"},
		{in: `-`, want: "unexpected end of input in number"},
		{in: `-a`, want: "invalid character 'a' in numeric literal"},
		{in: `1.`, want: "unexpected end of input in number"},
		{in: `1.e5`, want: "invalid character 'e' after decimal point"},
		{in: `1e`, want: "unexpected end of input in number"},
		{in: `.5`, want: "invalid character '.' looking for beginning of value"},
		{in: `NaN`, want: "invalid character 'N'"},
		{in: `[1e400]`, want: "json: number 1e400 out of range at offset 1"},
		{in: `"abc`, want: "unexpected end of input in string"},
		{in: "\"a\nb\"", want: `invalid character '\n' in string literal at offset 2`},
		{in: `"\x"`, want: "invalid character 'x' in string escape code at offset 2"},
		{in: `"\u12"`, want: `invalid character '"' in \u hexadecimal character escape at offset 5`},
		{in: `"\u12`, want: "unexpected end of input in string escape code"},
		{in: "\"\xff", want: "unexpected end of input in string"},
		{in: `'a'`, want: `invalid character '\''`},
		{in: "\xef\xbb\xbf1", want: `invalid character '\xef' looking for beginning of value`},
		{in: strings.Repeat("[", 201), want: "json: nesting deeper than 200 at offset 200", is: ErrTooDeep},
		{in: strings.Repeat(`{"a":`, 1_000_000), want: "nesting deeper than 200", is: ErrTooDeep},
		{in: `[[[1]]]`, lim: Limits{MaxDepth: 2}, want: "nesting deeper than 2", is: ErrTooDeep},
		{in: `"` + strings.Repeat("x", 100) + `"`, lim: Limits{MaxSize: 100}, want: "json: input larger than 100 bytes", is: ErrTooLarge},
		{in: strings.Repeat(" ", 8<<20+1), want: "json: input larger than 8 MiB", is: ErrTooLarge},
	} {
		h := &luamodtest.Host{}
		L := newState(t, h, tc.lim)
		got := call(t, L, "decode", lua.LString(tc.in))
		short := tc.in
		if len(short) > 40 {
			short = short[:40] + "..."
		}
		if len(got) != 2 || got[0] != lua.LNil || !strings.Contains(got[1].String(), tc.want) {
			t.Errorf("json.decode(%q) = %v, want nil, %q", short, got, tc.want)
		}
		_, err := Decode(L, []byte(tc.in), tc.lim, nil)
		var se *SyntaxError
		if tc.is != nil && !errors.Is(err, tc.is) || tc.is == nil && !errors.As(err, &se) {
			t.Errorf("Decode(%q) error %T %v", short, err, err)
		}
	}
}

func TestDecodeDepthLimitIsInclusive(t *testing.T) {
	L := newState(t, &luamodtest.Host{}, Limits{})
	in := strings.Repeat(`[{"a":`, 100) + "1" + strings.Repeat(`}]`, 100)
	if got := call(t, L, "decode", lua.LString(in)); len(got) != 1 || got[0].Type() != lua.LTTable {
		t.Fatalf("200 levels: %v", got)
	}
}

func TestBadArgumentsRaise(t *testing.T) {
	L := newState(t, &luamodtest.Host{}, Limits{})
	for _, tc := range []struct {
		name string
		args []lua.LValue
		want string
	}{
		{"decode", nil, "(string expected, got nil)"},
		{"decode", []lua.LValue{L.NewTable()}, "(string expected, got table)"},
		{"encode", nil, "(value expected)"},
	} {
		_, err := pcall(L, tc.name, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("json.%s%v: error %v, want %q", tc.name, tc.args, err, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	L := newState(t, &luamodtest.Host{}, Limits{})
	got := run(t, L, `
		local v = {
			name = "Zoë \"Z\" <z@example.org>", n = 3, pi = 3.25, big = 2^53, neg = -1e-9,
			yes = true, no = false, list = {1, "two", {three = 3}, {}}, nested = {a = {b = {c = {"deep"}}}},
			ctrl = "\0\1\n\127", utf8 = "日本語 😀",
		}
		local s = json.encode(v)
		local back = json.decode(s)
		return s, json.encode(back) == s, back.name, back.list[3].three, back.nested.a.b.c[1], back.ctrl, back.utf8, back.big
	`)
	if got[1] != lua.LTrue {
		t.Fatalf("encode(decode(s)) != s for %s", got[0])
	}
	for i, want := range []lua.LValue{lua.LString(`Zoë "Z" <z@example.org>`), lua.LNumber(3), lua.LString("deep"), lua.LString("\x00\x01\n\x7f"), lua.LString("日本語 😀"), lua.LNumber(1 << 53)} {
		if got[i+2] != want {
			t.Errorf("value %d = %v, want %v", i+3, got[i+2], want)
		}
	}
	// The text is what encoding/json reads back to the same thing.
	var doc map[string]any
	if err := json.Unmarshal([]byte(got[0].String()), &doc); err != nil {
		t.Fatalf("encoding/json cannot read %s: %v", got[0], err)
	}
	if doc["name"] != `Zoë "Z" <z@example.org>` || doc["big"] != float64(1<<53) || doc["neg"] != -1e-9 {
		t.Errorf("encoding/json read %v", doc)
	}
}

func TestCharges(t *testing.T) {
	h := &luamodtest.Host{}
	L := newState(t, h, Limits{})
	out := run(t, L, `return json.encode({a = "b"})`)
	if want := int64(len(`{"a":"b"}`)); h.Charged() != want || out[0].String() != `{"a":"b"}` {
		t.Fatalf("encode charged %d, want %d", h.Charged(), want)
	}

	// Decode charges an estimate of what it builds, in chunks, and at least
	// the bytes of the strings it returns.
	h = &luamodtest.Host{}
	L = newState(t, h, Limits{})
	big := strings.Repeat("x", 200<<10)
	call(t, L, "decode", lua.LString(`["`+big+`", "`+big+`"]`))
	if h.Charged() < 400<<10 || h.Charged() > 401<<10 {
		t.Fatalf("decode of 400 KiB of strings charged %d", h.Charged())
	}
	if ev := h.Events(); len(ev) != 3 {
		t.Fatalf("charges %q, want three (two chunks and the rest)", ev)
	}
}

func TestDecodeBombStopsAtBudget(t *testing.T) {
	// 8 MiB of "[]," expands into ~2.8 million tables: far more memory than
	// the text. Charging as it goes stops it at the budget.
	h := &luamodtest.Host{Budget: 4 << 20}
	L := newState(t, h, Limits{})
	in := "[" + strings.Repeat("[],", (8<<20)/3-1) + "[]]"
	_, err := pcall(L, "decode", lua.LString(in))
	if err == nil || !strings.Contains(err.Error(), luamodtest.ErrBudget.Error()) {
		t.Fatalf("decode bomb: error %v, want the budget error raised", err)
	}
	if _, err := Decode(L, []byte(in), Limits{}, h.Charge); !errors.Is(err, luamodtest.ErrBudget) {
		t.Fatalf("Decode: %v, want ErrBudget", err)
	}
}

func TestEncodeChargeFailureRaises(t *testing.T) {
	h := &luamodtest.Host{Budget: 4}
	L := newState(t, h, Limits{})
	if _, err := pcall(L, "encode", lua.LString("hello")); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("encode over budget: %v, want raised", err)
	}
}

func TestNull(t *testing.T) {
	L := newState(t, &luamodtest.Host{}, Limits{})
	got := run(t, L, `return tostring(json.null), type(json.null), getmetatable(json.null), json.null == json.null`)
	if got[0].String() != "json.null" || got[1].String() != "userdata" || got[2] != lua.LFalse || got[3] != lua.LTrue {
		t.Fatalf("json.null: %v", got)
	}
	// Another state's json.null is another value, also encoded as null.
	L2 := newState(t, &luamodtest.Host{}, Limits{})
	other := L2.GetField(L2.GetGlobal("json"), "null")
	if other == L.GetField(L.GetGlobal("json"), "null") {
		t.Fatal("two Opens share json.null")
	}
	if b, err := Encode(other, Limits{}); err != nil || string(b) != "null" {
		t.Fatalf("Encode(other null) = %s, %v", b, err)
	}
	// Any other userdata is refused.
	if _, err := Encode(L.NewUserData(), Limits{}); !errors.Is(err, ErrType) {
		t.Fatalf("Encode(userdata): %v", err)
	}
}

func TestDecodeRespectsNothingButItsInput(t *testing.T) {
	// Decoding takes no context: a cancelled session's decode of a small
	// document still completes (the VM stops the script right after).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	L := newState(t, &luamodtest.Host{Ctx: ctx}, Limits{})
	if got := call(t, L, "decode", lua.LString(`[1]`)); got[0].Type() != lua.LTTable {
		t.Fatalf("got %v", got)
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.1, 1e20, 1e21, 123456789e15, 1e-6, 9.99e-7, 1e-7, math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324, 1.0 / 3, -2.5e-300} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%g) = %s, want %s", f, got, want)
		}
	}
}
