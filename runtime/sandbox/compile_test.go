package sandbox

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		src  string
		line int
		msg  string
	}{
		{"x = = 1", 1, "main.lua:1: syntax error near '='"},
		{"\n\nreturn return", 3, "main.lua:3: syntax error near 'return'"},
		{"local a = 1\nlocal b = 2\nfoo(\n", 4, "main.lua:4: syntax error near '<eof>'"},
		{"x = 'unfinished\ny = 1", 2, "main.lua:2: unterminated string near 'unfinished'"},
		{"for i = 1 do end", 1, "main.lua:1: syntax error near 'do'"},
		{"break", 1, "main.lua:1: no loop to break"},
		{"function f() x = ... end", 1, "main.lua:1: cannot use '...' outside a vararg function"},
		{"a = 1\nb = 2\nc = " + strings.Repeat("{", 300), 3, "main.lua:3: chunk has too many syntax levels"},
	} {
		_, err := Compile("main.lua", []byte(c.src))
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%q: want a *CompileError, got %T %v", c.src, err, err)
			continue
		}
		if ce.Line != c.line || err.Error() != c.msg {
			t.Errorf("%q: got line %d %q, want line %d %q", c.src, ce.Line, err.Error(), c.line, c.msg)
		}
	}
}

func TestCompileSizeCap(t *testing.T) {
	src := []byte("x = 1\n" + strings.Repeat("-", MaxSource))
	_, err := Compile("big.lua", src)
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "more than the 1 MiB") {
		t.Fatalf("want a size error, got %v", err)
	}
	// Just under the cap compiles.
	ok := []byte("x = 1\n--" + strings.Repeat("-", MaxSource-10) + "\n")
	if _, err := Compile("ok.lua", ok); err != nil {
		t.Fatalf("%d bytes: %v", len(ok), err)
	}
}

// TestCompilePathological compiles sources that crash or stall stock
// gopher-lua (fatal stack overflow in the parser or compiler): each must be
// refused quickly with a CompileError, never crash the process.
func TestCompilePathological(t *testing.T) {
	const n = 1 << 18
	for name, src := range map[string]string{
		"braces":       "x = " + strings.Repeat("{", n) + strings.Repeat("}", n),
		"parens":       "x = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n),
		"brackets":     "x = t" + strings.Repeat("[t", n) + strings.Repeat("]", n),
		"not":          "x = " + strings.Repeat("not ", n) + "true",
		"minus":        "x = " + strings.Repeat("- ", n) + "1",
		"len":          "x = " + strings.Repeat("#", n) + "t",
		"concat":       "x = a" + strings.Repeat(" .. a", n),
		"pow":          "x = a" + strings.Repeat("^a", n),
		"plus":         "x = a" + strings.Repeat("+a", n),
		"and":          "x = a" + strings.Repeat(" and a", n),
		"fields":       "x = a" + strings.Repeat(".b", n),
		"calls":        "x = f" + strings.Repeat("()", n),
		"functions":    strings.Repeat("function f() ", n) + strings.Repeat("end ", n),
		"do":           strings.Repeat("do ", n) + strings.Repeat("end ", n),
		"ifs":          strings.Repeat("if x then ", n) + strings.Repeat("end ", n),
		"repeat":       strings.Repeat("repeat ", n) + strings.Repeat("until x ", n),
		"call args":    "f(" + strings.Repeat("f(", n) + strings.Repeat(")", n+1),
		"table fields": "x = {" + strings.Repeat("a = {", n) + strings.Repeat("}", n+1),
		"unclosed":     "x = " + strings.Repeat("{", n),
	} {
		start := time.Now()
		_, err := Compile(name+".lua", []byte(src))
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%s: want a CompileError, got %v", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
}

// TestCompileNesting: what real code does still compiles, and what is only
// written inside strings and comments is not counted.
func TestCompileNesting(t *testing.T) {
	for name, src := range map[string]string{
		"150 braces":   "x = " + strings.Repeat("{", 150) + strings.Repeat("}", 150),
		"long chain":   "x = a" + strings.Repeat(" + a", 9000),
		"concat 150":   "x = a" + strings.Repeat(" .. a", 150),
		"many stmts":   strings.Repeat("s = s .. 'x'\n", 5000),
		"strings":      "x = '" + strings.Repeat("{(", 5000) + "'\ny = [[" + strings.Repeat("{", 5000) + "]]\n",
		"comments":     "--[==[" + strings.Repeat("{", 5000) + "]==]\n-- " + strings.Repeat("(", 5000) + "\nx = 1",
		"data table":   "t = {" + strings.Repeat("{1, 2, 'x'},\n", 20000) + "}",
		"chained ifs":  "if a then b() " + strings.Repeat("elseif a then b() ", 2000) + "end",
		"calls concat": "x = " + strings.Repeat("f(a) .. ", 150) + "b",
		"unary mix":    "x = " + strings.Repeat("not ", 100) + "-#t",
		"functions":    "local t = {" + strings.Repeat("function() return 1 end, ", 3000) + "}",
		"method calls": "x = s" + strings.Repeat(":upper()", 500),
	} {
		if _, err := Compile(name+".lua", []byte(src)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
