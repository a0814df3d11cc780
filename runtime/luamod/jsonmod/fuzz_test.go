package jsonmod

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// FuzzDecode checks Decode against encoding/json: it accepts exactly the
// documents encoding/json accepts (within the depth limit), builds the same
// values, never panics, and what Encode writes of them decodes to the same.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`null`, `true`, `-0`, `1e400`, `0.1e-2`, `"\ud83d\ude00\ud83d"`, "\"\xff\"",
		`{"a":[1,2,{"b":null}],"c":"d","a":3}`, `[1,null,3]`, `[[[]]]`, `{}`, `[{}]`,
		`{"a":1,"a":null}`, ` [ "x" , true ] `, `[1,]`, `{"a" 1}`, `"\u12"`, `01`, `1 2`,
		strings.Repeat("[", 201) + strings.Repeat("]", 201),
	} {
		f.Add([]byte(seed))
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(L, data, Limits{}, nil)
		var want any
		werr := json.Unmarshal(data, &want)
		if err != nil {
			if errors.Is(err, ErrTooDeep) {
				return
			}
			if werr == nil {
				t.Fatalf("Decode(%q) failed: %v; encoding/json read %v", data, err, want)
			}
			return
		}
		if werr != nil {
			t.Fatalf("Decode(%q) = %v; encoding/json fails: %v", data, v, werr)
		}
		if err := sameAs(v, want); err != nil {
			t.Fatalf("Decode(%q): %v", data, err)
		}
		out, err := Encode(v, Limits{})
		if err != nil {
			if !errors.Is(err, ErrSparseArray) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Encode(Decode(%q)): %v", data, err)
			}
			return
		}
		back, err := Decode(L, out, Limits{}, nil)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = Decode(%q): %v", data, out, err)
		}
		if err := sameLua(back, v); err != nil {
			t.Fatalf("round trip of %q through %q: %v", data, out, err)
		}
	})
}

// sameAs compares a decoded Lua value with what encoding/json decoded.
func sameAs(lv lua.LValue, v any) error {
	switch v := v.(type) {
	case nil:
		if lv != lua.LNil {
			return fmt.Errorf("got %v, want nil", lv)
		}
	case bool:
		if lv != lua.LBool(v) {
			return fmt.Errorf("got %v, want %v", lv, v)
		}
	case float64:
		if n, ok := lv.(lua.LNumber); !ok || math.Float64bits(float64(n)) != math.Float64bits(v) {
			return fmt.Errorf("got %v, want %v", lv, v)
		}
	case string:
		if lv != lua.LString(v) {
			return fmt.Errorf("got %q, want %q", lv, v)
		}
	case []any:
		t, ok := lv.(*lua.LTable)
		if !ok {
			return fmt.Errorf("got %v, want an array", lv)
		}
		n := 0
		for i, x := range v {
			if x != nil {
				n++
			}
			if err := sameAs(t.RawGetInt(i+1), x); err != nil {
				return fmt.Errorf("[%d]: %w", i+1, err)
			}
		}
		if c := count(t); c != n {
			return fmt.Errorf("table has %d entries, want %d", c, n)
		}
	case map[string]any:
		t, ok := lv.(*lua.LTable)
		if !ok {
			return fmt.Errorf("got %v, want an object", lv)
		}
		n := 0
		for k, x := range v {
			if x != nil {
				n++
			}
			if err := sameAs(t.RawGetString(k), x); err != nil {
				return fmt.Errorf(".%s: %w", k, err)
			}
		}
		if c := count(t); c != n {
			return fmt.Errorf("table has %d entries, want %d", c, n)
		}
	default:
		return fmt.Errorf("unexpected %T", v)
	}
	return nil
}

func count(t *lua.LTable) int {
	n := 0
	t.ForEach(func(lua.LValue, lua.LValue) { n++ })
	return n
}

// sameLua compares two Lua values deeply.
func sameLua(a, b lua.LValue) error {
	ta, ok1 := a.(*lua.LTable)
	tb, ok2 := b.(*lua.LTable)
	if !ok1 || !ok2 {
		if a != b {
			return fmt.Errorf("%v != %v", a, b)
		}
		return nil
	}
	if count(ta) != count(tb) {
		return fmt.Errorf("%d entries != %d", count(ta), count(tb))
	}
	var err error
	ta.ForEach(func(k, v lua.LValue) {
		if err == nil {
			if e := sameLua(v, tb.RawGet(k)); e != nil {
				err = fmt.Errorf("[%v]: %w", k, e)
			}
		}
	})
	return err
}
