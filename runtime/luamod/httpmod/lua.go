package httpmod

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod"
)

// Open sets env.http to a new table holding get, post and request, bound to
// the session h: requests run under h.Context(), inside h.Blocking(), and
// what they return is charged with h.Charge.
func (c *Client) Open(L *lua.LState, env *lua.LTable, h luamod.Host) {
	mod := L.CreateTable(0, 3)
	mod.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		r := c.newRequest(http.MethodGet, checkURL(L, 1, L.CheckString(1)))
		c.options(L, 2, L.OptTable(2, nil), r, "headers", "timeout")
		return c.perform(L, h, r)
	}))
	mod.RawSetString("post", L.NewFunction(func(L *lua.LState) int {
		r := c.newRequest(http.MethodPost, checkURL(L, 1, L.CheckString(1)))
		setBody(L, 2, "", L.Get(2), r)
		c.options(L, 3, L.OptTable(3, nil), r, "headers", "timeout", "content_type")
		return c.perform(L, h, r)
	}))
	mod.RawSetString("request", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		u := t.RawGetString("url")
		s, ok := u.(lua.LString)
		if !ok {
			L.ArgError(1, "url: string expected, got "+u.Type().String())
		}
		r := c.newRequest(http.MethodGet, checkURL(L, 1, string(s)))
		c.options(L, 1, t, r, "method", "url", "headers", "body", "timeout", "content_type")
		return c.perform(L, h, r)
	}))
	env.RawSetString("http", mod)
}

func (c *Client) newRequest(method string, u *url.URL) *request {
	return &request{method: method, url: u, header: make(http.Header), timeout: c.cfg.Timeout}
}

// perform runs r for the script: {status=, body=, headers=} or nil, err.
func (c *Client) perform(L *lua.LState, h luamod.Host, r *request) int {
	resp, err := c.blocking(h, r)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	if err := h.Charge(resp.size()); err != nil {
		L.RaiseError("%s", err.Error())
	}
	headers := L.CreateTable(0, len(resp.header))
	for k, vs := range resp.header {
		headers.RawSetString(strings.ToLower(k), lua.LString(strings.Join(vs, ", ")))
	}
	t := L.CreateTable(0, 3)
	t.RawSetString("status", lua.LNumber(resp.status))
	t.RawSetString("body", lua.LString(resp.body))
	t.RawSetString("headers", headers)
	L.Push(t)
	return 1
}

// blocking runs r with the session's compute clock stopped.
func (c *Client) blocking(h luamod.Host, r *request) (*response, error) {
	ctx := h.Context()
	resume := h.Blocking()
	defer resume()
	return c.do(ctx, r)
}

// checkURL parses the URL argument n: an absolute http or https URL.
func checkURL(L *lua.LState, n int, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		L.ArgError(n, "bad URL: "+strings.TrimPrefix(err.Error(), "parse "))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		L.ArgError(n, fmt.Sprintf("URL %q: scheme must be http or https", s))
	}
	if u.Host == "" {
		L.ArgError(n, fmt.Sprintf("URL %q has no host", s))
	}
	u.Fragment, u.RawFragment = "", ""
	return u
}

var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// options reads the options table t of argument n into r. Unknown options
// and wrong types raise.
func (c *Client) options(L *lua.LState, n int, t *lua.LTable, r *request, allowed ...string) {
	if t == nil {
		return
	}
	t.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); !ok || !slices.Contains(allowed, string(s)) {
			L.ArgError(n, fmt.Sprintf("unknown option %s (known: %s)", lua.LVAsString(k), strings.Join(allowed, ", ")))
		}
	})
	if v := t.RawGetString("method"); v != lua.LNil {
		s, ok := v.(lua.LString)
		m := strings.ToUpper(string(s))
		if !ok || !slices.Contains(methods, m) {
			L.ArgError(n, "method: one of "+strings.Join(methods, ", ")+" expected")
		}
		r.method = m
	}
	if v := t.RawGetString("body"); v != lua.LNil {
		setBody(L, n, "body: ", v, r)
	}
	if v := t.RawGetString("timeout"); v != lua.LNil {
		secs, ok := v.(lua.LNumber)
		if !ok || math.IsNaN(float64(secs)) || secs <= 0 {
			L.ArgError(n, "timeout: a positive number of seconds expected")
		}
		if d := float64(secs) * float64(time.Second); d < float64(c.cfg.Timeout) {
			r.timeout = max(time.Duration(d), time.Millisecond)
		}
	}
	if v := t.RawGetString("headers"); v != lua.LNil {
		ht, ok := v.(*lua.LTable)
		if !ok {
			L.ArgError(n, "headers: table expected, got "+v.Type().String())
		}
		setHeaders(L, n, ht, r)
	}
	if v := t.RawGetString("content_type"); v != lua.LNil {
		s, ok := v.(lua.LString)
		if !ok || !validValue(string(s)) {
			L.ArgError(n, "content_type: a header value expected")
		}
		r.header.Set("Content-Type", string(s))
	}
}

// setBody sets the request body from v, argument n (what prefixes its
// errors): a string as it is, a table as an HTML form. Each sets a default
// Content-Type, which headers and content_type replace.
func setBody(L *lua.LState, n int, what string, v lua.LValue, r *request) {
	switch v := v.(type) {
	case lua.LString, lua.LNumber:
		r.body = lua.LVAsString(v)
		r.header.Set("Content-Type", "text/plain; charset=utf-8")
	case *lua.LTable:
		form := url.Values{}
		v.ForEach(func(k, val lua.LValue) {
			name, ok := k.(lua.LString)
			if !ok {
				L.ArgError(n, what+"form field names must be strings")
			}
			add := func(val lua.LValue) {
				switch val.(type) {
				case lua.LString, lua.LNumber, lua.LBool:
					form.Add(string(name), val.String())
				default:
					L.ArgError(n, fmt.Sprintf("%sform field %q: string, number or boolean expected", what, name))
				}
			}
			if list, ok := val.(*lua.LTable); ok {
				entries := 0
				list.ForEach(func(lua.LValue, lua.LValue) { entries++ })
				if entries != list.Len() {
					L.ArgError(n, fmt.Sprintf("%sform field %q: a list of values expected", what, name))
				}
				for i := 1; i <= entries; i++ {
					add(list.RawGetInt(i))
				}
				return
			}
			add(val)
		})
		r.body = form.Encode()
		r.header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		L.ArgError(n, what+"string or table expected, got "+v.Type().String())
	}
}

// setHeaders copies the headers table into r. Names are case-insensitive;
// values are strings or numbers. "Host" sets the Host header.
func setHeaders(L *lua.LState, n int, t *lua.LTable, r *request) {
	t.ForEach(func(k, v lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok || !isToken(string(name)) {
			L.ArgError(n, fmt.Sprintf("headers: bad header name %s", lua.LVAsString(k)))
		}
		var value string
		switch v := v.(type) {
		case lua.LString, lua.LNumber:
			value = lua.LVAsString(v)
		default:
			L.ArgError(n, fmt.Sprintf("headers: %s: string expected, got %s", name, v.Type()))
		}
		if !validValue(value) {
			L.ArgError(n, fmt.Sprintf("headers: %s: value has control characters", name))
		}
		if http.CanonicalHeaderKey(string(name)) == "Host" {
			r.host = value
			return
		}
		r.header.Set(string(name), value)
	})
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validValue refuses the control characters a header value may not hold.
func validValue(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
