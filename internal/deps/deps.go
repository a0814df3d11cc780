// Package deps pins the modules Chorus builds on while the packages that use
// them are being written. Delete it once every import below has a real user.
package deps

import (
	_ "github.com/coder/websocket"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/layeh/gopher-json"
	_ "github.com/pressly/goose/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/yuin/gopher-lua"
	_ "go.yaml.in/yaml/v3"
	_ "modernc.org/sqlite"
)
