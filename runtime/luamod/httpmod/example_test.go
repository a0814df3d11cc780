package httpmod_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod/httpmod"
	"github.com/chorus-dev/chorus/runtime/luamod/luamodtest"
)

func ExampleClient_Open() {
	// A service on loopback, which scripts may reach only because the
	// operator allows its address (lua.http_allow).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-Api-Key"))
		fmt.Fprintf(w, "%s %s", r.Method, body)
	}))
	defer srv.Close()

	client, err := httpmod.New(httpmod.Config{Allow: []string{strings.TrimPrefix(srv.URL, "http://")}})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	L := lua.NewState()
	defer L.Close()
	client.Open(L, L.G.Global, &luamodtest.Host{}) // one session's Host, in Chorus
	L.SetGlobal("base", lua.LString(srv.URL))

	err = L.DoString(`
		local r = http.post(base, "hello", {headers = {["X-Api-Key"] = "k1"}, timeout = 5})
		print(r.status, r.body, r.headers["x-seen"])
		print(http.get("http://169.254.169.254/latest/meta-data/"))
	`)
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// 200	POST hello	k1
	// nil	http: 169.254.169.254:80 is a link-local address; the operator can allow it with lua.http_allow
}

func ExampleNew() {
	_, err := httpmod.New(httpmod.Config{Allow: []string{"127.0.0.1:8099", "localhost:*", "*.internal", "db:port"}})
	fmt.Println(err)
	// Output:
	// httpmod: allow pattern "db:port": bad port "port"
}
