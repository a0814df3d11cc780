package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

const (
	// MaxSource is the largest script Compile accepts: the upload cap.
	MaxSource = 1 << 20
	// maxSyntaxLevels bounds nested brackets, blocks and chains of
	// right-associative or unary operators, as Lua 5.1's LUAI_MAXCCALLS
	// ("chunk has too many syntax levels"); it keeps the parser's stack small.
	maxSyntaxLevels = 200
	// maxTreeDepth bounds the depth of the syntax tree (long left-associative
	// chains such as a+a+...+a or a.b.c..., and elseif chains), which the
	// compiler recurses on; 10,000 levels keep its stack within a few MiB.
	maxTreeDepth = 10000
)

// Compile compiles a Lua 5.1 chunk. name is used in error messages and
// tracebacks ("main.lua:4: ..."). It refuses sources over MaxSource and
// pathologically nested ones, and returns a *CompileError for every problem
// with the source, with its line when there is one.
func Compile(name string, src []byte) (proto *lua.FunctionProto, err error) {
	if len(src) > MaxSource {
		return nil, &CompileError{Name: name, Msg: fmt.Sprintf("source is %s, more than the %s a script may have", size(int64(len(src))), size(MaxSource))}
	}
	if line, ok := checkLevels(src); !ok {
		return nil, &CompileError{Name: name, Line: line, Msg: "chunk has too many syntax levels"}
	}
	defer func() {
		if r := recover(); r != nil {
			proto, err = nil, &CompileError{Name: name, Msg: fmt.Sprintf("cannot compile: %v", r)}
		}
	}()
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, parseError(name, bytes.Count(src, []byte{'\n'})+1, err)
	}
	if line, ok := checkTree(chunk); !ok {
		return nil, &CompileError{Name: name, Line: line, Msg: "expression or block nested too deeply"}
	}
	proto, err = lua.Compile(chunk, name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, &CompileError{Name: name, Line: ce.Line, Msg: ce.Message}
		}
		return nil, &CompileError{Name: name, Msg: err.Error()}
	}
	return proto, nil
}

func parseError(name string, lastLine int, err error) error {
	var pe *parse.Error
	if !errors.As(err, &pe) {
		return &CompileError{Name: name, Msg: strings.TrimSpace(err.Error())}
	}
	msg := pe.Message
	if pe.Pos.Line == parse.EOF {
		return &CompileError{Name: name, Line: lastLine, Msg: msg + " near '<eof>'"}
	}
	if pe.Token != "" {
		msg += fmt.Sprintf(" near '%s'", pe.Token)
	}
	return &CompileError{Name: name, Line: pe.Pos.Line, Msg: msg}
}

// checkLevels scans the tokens of src and reports whether its nesting stays
// within maxSyntaxLevels, counting brackets, blocks, and runs of unary
// operators and of the right-associative .. and ^ inside one expression.
// On failure it returns the line where the limit was passed.
func checkLevels(src []byte) (int, bool) {
	type open struct{ chain int }
	var stack []open
	chain := 0 // chain of the innermost open level (or the top level)
	depth := 0 // len(stack) + the chains of all open levels
	line := 1
	prevOperand := false // the previous token ends an operand
	push := func() bool {
		stack = append(stack, open{chain})
		depth++
		chain = 0
		return depth <= maxSyntaxLevels
	}
	pop := func() {
		if len(stack) == 0 {
			return
		}
		depth -= 1 + chain
		chain = stack[len(stack)-1].chain
		stack = stack[:len(stack)-1]
	}
	link := func() bool { // one more operator in the current chain
		chain++
		depth++
		return depth <= maxSyntaxLevels
	}
	reset := func() {
		depth -= chain
		chain = 0
	}
	n := len(src)
	for i := 0; i < n; {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '-' && i+1 < n && src[i+1] == '-': // comment
			i += 2
			if lvl, ok := longBracket(src, i); ok {
				end, nl := skipLong(src, i, lvl)
				line += nl
				i = end
			} else {
				for i < n && src[i] != '\n' {
					i++
				}
			}
			continue
		case c == '"' || c == '\'':
			i++
			for i < n && src[i] != c && src[i] != '\n' {
				if src[i] == '\\' && i+1 < n {
					if src[i+1] == '\n' {
						line++
					}
					i++
				}
				i++
			}
			i++
			if prevOperand {
				reset()
			}
			prevOperand = true
			continue
		case c == '[':
			if lvl, ok := longBracket(src, i); ok { // long string
				end, nl := skipLong(src, i, lvl)
				line += nl
				i = end
				if prevOperand {
					reset()
				}
				prevOperand = true
				continue
			}
			i++
			if !push() {
				return line, false
			}
			prevOperand = false
			continue
		case c == '(' || c == '{':
			i++
			if !push() {
				return line, false
			}
			prevOperand = false
			continue
		case c == ')' || c == ']' || c == '}':
			i++
			pop()
			prevOperand = true
			continue
		case c == '_' || isalpha(c):
			j := i
			for j < n && (src[j] == '_' || isalnum(src[j])) {
				j++
			}
			word := string(src[i:j])
			i = j
			switch word {
			case "function", "if", "do", "repeat":
				if word != "function" { // a function may be an operand
					reset()
				}
				if !push() {
					return line, false
				}
				prevOperand = false
			case "end", "until":
				pop()
				reset()
				prevOperand = word == "end" // "function() end" is an operand
			case "not":
				if !link() {
					return line, false
				}
				prevOperand = false
			case "and", "or":
				prevOperand = false
			case "local", "return", "then", "else", "elseif", "while", "for", "in", "break":
				reset()
				prevOperand = false
			default: // a name, nil, true, false
				if prevOperand {
					reset()
				}
				prevOperand = true
			}
			continue
		case isdigit(c) || (c == '.' && i+1 < n && isdigit(src[i+1])):
			j := i
			for j < n && (isalnum(src[j]) || src[j] == '.' || src[j] == '_' ||
				((src[j] == '-' || src[j] == '+') && (src[j-1]|0x20) == 'e')) {
				j++
			}
			i = j
			if prevOperand {
				reset()
			}
			prevOperand = true
			continue
		}
		// Operators and punctuation.
		switch {
		case c == '.' && i+2 < n && src[i+1] == '.' && src[i+2] == '.':
			i += 3
			prevOperand = true
		case c == '.' && i+1 < n && src[i+1] == '.':
			i += 2
			if !link() {
				return line, false
			}
			prevOperand = false
		case c == '^':
			i++
			if !link() {
				return line, false
			}
			prevOperand = false
		case c == '-' || c == '#':
			i++
			if !prevOperand { // unary
				if !link() {
					return line, false
				}
			}
			prevOperand = false
		case c == ',' || c == ';' || (c == '=' && !(i+1 < n && src[i+1] == '=')):
			i++
			reset()
			prevOperand = false
		default:
			i++
			if i < n && src[i] == '=' && (c == '=' || c == '~' || c == '<' || c == '>') {
				i++
			}
			prevOperand = false
		}
	}
	return line, true
}

// longBracket reports whether src[i:] opens a long bracket [==[ and its level.
func longBracket(src []byte, i int) (int, bool) {
	if i >= len(src) || src[i] != '[' {
		return 0, false
	}
	j := i + 1
	for j < len(src) && src[j] == '=' {
		j++
	}
	if j < len(src) && src[j] == '[' {
		return j - i - 1, true
	}
	return 0, false
}

// skipLong skips a long bracket of level lvl opening at i and returns the
// index after it and the newlines inside.
func skipLong(src []byte, i, lvl int) (int, int) {
	closing := "]" + strings.Repeat("=", lvl) + "]"
	body := src[i+lvl+2:]
	k := bytes.Index(body, []byte(closing))
	if k < 0 {
		return len(src), bytes.Count(body, []byte{'\n'})
	}
	return i + lvl + 2 + k + len(closing), bytes.Count(body[:k], []byte{'\n'})
}

// checkTree reports whether the syntax tree is at most maxTreeDepth deep,
// and if not, the line where it went deeper. It recurses at most
// maxTreeDepth+1 levels itself.
func checkTree(chunk []ast.Stmt) (int, bool) {
	t := treeChecker{}
	t.stmts(chunk, 1)
	return t.line, !t.deep
}

type treeChecker struct {
	deep bool
	line int
}

func (t *treeChecker) tooDeep(n ast.PositionHolder, d int) bool {
	if t.deep {
		return true
	}
	if d > maxTreeDepth {
		t.deep = true
		t.line = n.Line()
		return true
	}
	return false
}

func (t *treeChecker) stmts(list []ast.Stmt, d int) {
	for _, s := range list {
		t.stmt(s, d)
		if t.deep {
			return
		}
	}
}

func (t *treeChecker) exprs(list []ast.Expr, d int) {
	for _, e := range list {
		t.expr(e, d)
		if t.deep {
			return
		}
	}
}

func (t *treeChecker) stmt(s ast.Stmt, d int) {
	if s == nil || t.tooDeep(s, d) {
		return
	}
	d++
	switch s := s.(type) {
	case *ast.AssignStmt:
		t.exprs(s.Lhs, d)
		t.exprs(s.Rhs, d)
	case *ast.LocalAssignStmt:
		t.exprs(s.Exprs, d)
	case *ast.FuncCallStmt:
		t.expr(s.Expr, d)
	case *ast.DoBlockStmt:
		t.stmts(s.Stmts, d)
	case *ast.WhileStmt:
		t.expr(s.Condition, d)
		t.stmts(s.Stmts, d)
	case *ast.RepeatStmt:
		t.expr(s.Condition, d)
		t.stmts(s.Stmts, d)
	case *ast.IfStmt:
		t.expr(s.Condition, d)
		t.stmts(s.Then, d)
		t.stmts(s.Else, d)
	case *ast.NumberForStmt:
		t.expr(s.Init, d)
		t.expr(s.Limit, d)
		t.expr(s.Step, d)
		t.stmts(s.Stmts, d)
	case *ast.GenericForStmt:
		t.exprs(s.Exprs, d)
		t.stmts(s.Stmts, d)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			t.expr(s.Name.Func, d)
			t.expr(s.Name.Receiver, d)
		}
		t.expr(s.Func, d)
	case *ast.ReturnStmt:
		t.exprs(s.Exprs, d)
	}
}

func (t *treeChecker) expr(e ast.Expr, d int) {
	if e == nil || t.tooDeep(e, d) {
		return
	}
	d++
	switch e := e.(type) {
	case *ast.AttrGetExpr:
		t.expr(e.Object, d)
		t.expr(e.Key, d)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			t.expr(f.Key, d)
			t.expr(f.Value, d)
			if t.deep {
				return
			}
		}
	case *ast.FuncCallExpr:
		t.expr(e.Func, d)
		t.expr(e.Receiver, d)
		t.exprs(e.Args, d)
	case *ast.LogicalOpExpr:
		t.expr(e.Lhs, d)
		t.expr(e.Rhs, d)
	case *ast.RelationalOpExpr:
		t.expr(e.Lhs, d)
		t.expr(e.Rhs, d)
	case *ast.StringConcatOpExpr:
		t.expr(e.Lhs, d)
		t.expr(e.Rhs, d)
	case *ast.ArithmeticOpExpr:
		t.expr(e.Lhs, d)
		t.expr(e.Rhs, d)
	case *ast.UnaryMinusOpExpr:
		t.expr(e.Expr, d)
	case *ast.UnaryNotOpExpr:
		t.expr(e.Expr, d)
	case *ast.UnaryLenOpExpr:
		t.expr(e.Expr, d)
	case *ast.FunctionExpr:
		t.stmts(e.Stmts, d)
	}
}
