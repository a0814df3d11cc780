package jsonmod_test

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/runtime/luamod/jsonmod"
	"github.com/chorus-dev/chorus/runtime/luamod/luamodtest"
)

func ExampleOpen() {
	L := lua.NewState()
	defer L.Close()
	host := &luamodtest.Host{} // the session, in Chorus
	jsonmod.Open(L, L.G.Global, host, jsonmod.Limits{})

	err := L.DoString(`
		local order = json.decode('{"id": 7, "items": ["tea", "cake"], "note": null}')
		print(order.id, #order.items, order.items[2], order.note)
		print(json.encode({ok = true, items = order.items, missing = json.null}))
		print(json.decode('{"id": 7,'))
		print(json.encode({1, 2, nil, 4}))
	`)
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// 7	2	cake	nil
	// {"items":["tea","cake"],"missing":null,"ok":true}
	// nil	json: unexpected end of input in object at offset 9
	// nil	json: cannot encode sparse array
}

func ExampleEncode() {
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(`t = {name = "Ada", langs = {"en", "fr"}}; t.self = t`); err != nil {
		panic(err)
	}
	_, err := jsonmod.Encode(L.GetGlobal("t"), jsonmod.Limits{})
	fmt.Println(err)
	// Output:
	// json: cannot encode recursively nested tables at self
}
