package apps_test

import (
	"bytes"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/apps"
)

// zipsModule loads weather/zips.lua with a lookup that knows one row.
func zipsModule(t *testing.T) (*lua.LState, *lua.LTable) {
	t.Helper()
	w, err := apps.Get("weather")
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	t.Cleanup(L.Close)
	L.SetGlobal("log", L.NewFunction(func(*lua.LState) int { return 0 }))
	L.SetGlobal("lookup", L.NewFunction(func(L *lua.LState) int {
		// The whole row, key first (runtime/engine), except 09007 and
		// 22222 in the older "fields after the key" shape: both work.
		rows := map[string][]string{
			"32801": {"32801", "Orlando", "FL", "28.5399", "-81.3727"},
			"09007": {"APO", "AE", "49.4077", "8.6908"},
			"11111": {"11111", "Nowhere", "XX", "north", "-1"},
			"22222": {"Roundtown", "", "7.60000", "-0.00001"},
		}
		row, ok := rows[L.CheckString(2)]
		if L.CheckString(1) != "zips.csv.gz" || !ok {
			L.Push(lua.LNil)
			return 1
		}
		tb := L.NewTable()
		for _, f := range row {
			tb.Append(lua.LString(f))
		}
		L.Push(tb)
		return 1
	}))
	fn, err := L.Load(bytes.NewReader(w.Files["zips.lua"]), "zips.lua")
	if err != nil {
		t.Fatal(err)
	}
	L.Push(fn)
	L.Call(0, 1)
	m, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatal("zips.lua does not return a table")
	}
	return L, m
}

func call(t *testing.T, L *lua.LState, m *lua.LTable, fn string, arg lua.LValue) lua.LValue {
	t.Helper()
	if err := L.CallByParam(lua.P{Fn: m.RawGetString(fn), NRet: 1, Protect: true}, arg); err != nil {
		t.Fatal(err)
	}
	v := L.Get(-1)
	L.Pop(1)
	return v
}

func TestZipsFind(t *testing.T) {
	L, m := zipsModule(t)
	tests := map[string]string{
		"32801":                 "32801",
		" 32801. ":              "32801",
		"zip 32801":             "32801",
		"32801-1234":            "32801",
		"123 Main St, 32801":    "32801",
		"hi":                    "",
		"123":                   "",
		"328011":                "",
		"32801 or 32803":        "",
		"":                      "",
		"weather for 00000 pls": "00000",
	}
	for in, want := range tests {
		got := call(t, L, m, "find", lua.LString(in))
		if want == "" && got != lua.LNil || want != "" && got.String() != want {
			t.Errorf("find(%q) = %v, want %q", in, got, want)
		}
	}
	if got := call(t, L, m, "find", lua.LNil); got != lua.LNil {
		t.Errorf("find(nil) = %v", got)
	}
}

func TestZipsLookup(t *testing.T) {
	L, m := zipsModule(t)
	tests := map[string]string{
		"32801": "Orlando, FL 28.5399,-81.3727",
		"09007": "APO, AE 49.4077,8.6908",
		"22222": "Roundtown 7.6,0",
		"11111": "", // bad coordinates
		"00000": "",
	}
	for zip, want := range tests {
		v := call(t, L, m, "lookup", lua.LString(zip))
		got := ""
		if tb, ok := v.(*lua.LTable); ok {
			got = tb.RawGetString("label").String() + " " + tb.RawGetString("lat").String() + "," + tb.RawGetString("lon").String()
		}
		if got != want {
			t.Errorf("lookup(%s) = %q, want %q", zip, got, want)
		}
	}
}
