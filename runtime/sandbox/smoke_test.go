package sandbox

import "testing"

func TestSmoke(t *testing.T) {
	sb := newTestSandbox(t, Config{})
	for _, src := range []string{
		`result = 1 + 2`,
		`result = ("abc"):upper() .. string.format("%5.2f|%d|%s|%q", 3.14159, 42, "x", "a\nb")`,
		`result = table.concat({1,2,3}, ",")`,
		`local t = {} for w in string.gmatch("one two three", "%a+") do t[#t+1] = w end result = table.concat(t, "-")`,
		`result = string.gsub("hello world", "(%w+)", "<%1>")`,
		`result = select('#', string.find("hello", "l+"))`,
		`x()`,
		`result = getmetatable("")`,
		`local ok, e = pcall(error, "boom") result = e`,
		`result = type(io) .. type(os.execute) .. type(load) .. type(debug) .. type(print)`,
		`local co = coroutine.wrap(function(a) local b = coroutine.yield(a+1) return b*2 end) result = co(1) + co(10)`,
		`local t = {} t[100000] = 1 t[1] = 2 local n = 0 for k, v in pairs(t) do n = n + 1 end result = n .. "," .. #t .. "," .. t[100000]`,
		`result = os.clock() >= 0 and os.time() > 0 and type(os.date()) == "string"`,
		`result = ("x"):rep(10, "y")`,
	} {
		t.Log(src, "=>", evalLua(t, sb, src))
	}
}
