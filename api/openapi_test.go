package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/chorus-dev/chorus/channels/web"
	"github.com/chorus-dev/chorus/store"
)

// openapiWebStub is a WebChannel that records which handler ran.
type openapiWebStub struct {
	mu    sync.Mutex
	calls []string
}

func (s *openapiWebStub) record(name string, w http.ResponseWriter) {
	s.mu.Lock()
	s.calls = append(s.calls, name)
	s.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
}

func (s *openapiWebStub) HandleMessage(w http.ResponseWriter, _ *http.Request) {
	s.record("message", w)
}

func (s *openapiWebStub) HandleWS(w http.ResponseWriter, _ *http.Request) {
	s.record("ws", w)
}

func (s *openapiWebStub) HandlePage(w http.ResponseWriter, _ *http.Request) {
	s.record("page", w)
}

func (s *openapiWebStub) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx,
		openapi3.EnableExamplesValidation(),
		openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaPatternValidation(),
	); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	return doc
}

func TestOpenAPIValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info == nil || doc.Info.Description == "" {
		t.Error("info.description is empty")
	}
	if doc.Components == nil || doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Fatal("components.securitySchemes.bearerAuth is missing")
	}
	bs := doc.Components.SecuritySchemes["bearerAuth"].Value
	if bs.Type != "http" || bs.Scheme != "bearer" {
		t.Errorf("bearerAuth is %s/%s, want http/bearer", bs.Type, bs.Scheme)
	}
}

// operation is a (METHOD, path) pair.
type apiOperation struct{ method, path string }

func (o apiOperation) String() string { return o.method + " " + o.path }

var openapiChiParam = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// normalizeChi turns a chi pattern as Walk reports it into an OpenAPI path:
// no trailing "/" (except the root), no "/*/" left from mounts, and
// "{name:regexp}" as "{name}".
func normalizeChi(p string) string {
	p = strings.ReplaceAll(p, "/*/", "/")
	p = strings.TrimSuffix(p, "/*")
	p = openapiChiParam.ReplaceAllString(p, "{$1}")
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" {
		p = "/"
	}
	return p
}

func TestOpenAPINormalizeChi(t *testing.T) {
	for in, want := range map[string]string{
		"/":                      "/",
		"/v1/apps/":              "/v1/apps",
		"/v1/apps/{name}/":       "/v1/apps/{name}",
		"/v1/apps/{name}/source": "/v1/apps/{name}/source",
		"/v1/x/{id:[0-9]+}/":     "/v1/x/{id}",
		"/v1/accounts/*/":        "/v1/accounts",
		"/healthz":               "/healthz",
	} {
		if got := normalizeChi(in); got != want {
			t.Errorf("normalizeChi(%q) = %q, want %q", in, got, want)
		}
	}
}

// routerOperations walks the router.
func routerOperations(t *testing.T, h http.Handler) map[apiOperation]bool {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("Handler() is a %T, not a chi.Routes", h)
	}
	ops := map[apiOperation]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		ops[apiOperation{strings.ToUpper(method), normalizeChi(route)}] = true
		return nil
	})
	if err != nil {
		t.Fatalf("walk the router: %v", err)
	}
	return ops
}

// documentedOperations lists the document's operations.
func documentedOperations(doc *openapi3.T) map[apiOperation]*openapi3.Operation {
	ops := map[apiOperation]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[apiOperation{strings.ToUpper(method), path}] = op
		}
	}
	return ops
}

// diffOperations reports routes without an operation and operations
// without a route.
func diffOperations(routes map[apiOperation]bool, documented map[apiOperation]*openapi3.Operation) (undocumented, unrouted []string) {
	for o := range routes {
		if _, ok := documented[o]; !ok {
			undocumented = append(undocumented, o.String())
		}
	}
	for o := range documented {
		if !routes[o] {
			unrouted = append(unrouted, o.String())
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unrouted)
	return undocumented, unrouted
}

func newOpenAPIRouter() (http.Handler, *openapiWebStub) {
	w := &openapiWebStub{}
	return (&Server{cfg: Config{Web: w}}).Handler(), w
}

func TestOpenAPIRoutesMatchDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	h, _ := newOpenAPIRouter()
	routes := routerOperations(t, h)
	if len(routes) == 0 {
		t.Fatal("the router has no routes")
	}
	undocumented, unrouted := diffOperations(routes, documentedOperations(doc))
	for _, o := range undocumented {
		t.Errorf("route %s is not in api/openapi.json", o)
	}
	for _, o := range unrouted {
		t.Errorf("api/openapi.json documents %s, which has no route", o)
	}
	// The routes the contract names explicitly, so that a broken walk (one
	// that reports nothing of a subrouter, say) cannot pass unnoticed.
	for _, o := range []apiOperation{
		{"GET", "/healthz"},
		{"GET", "/v1/openapi.json"},
		{"POST", "/v1/web/{address}/messages"},
		{"GET", "/v1/web/{address}/ws"},
		{"PUT", "/v1/apps/{name}"},
		{"GET", "/v1/apps/{name}/source"},
		{"DELETE", "/v1/addresses/{network}/{address}"},
		{"GET", "/v1/logs"},
	} {
		if !routes[o] {
			t.Errorf("the router has no %s", o)
		}
	}
}

// TestOpenAPIRouteCheckCanFail makes sure the comparison above notices an
// undocumented route and a documented operation without a route.
func TestOpenAPIRouteCheckCanFail(t *testing.T) {
	doc := loadOpenAPI(t)
	h, _ := newOpenAPIRouter()
	h.(chi.Router).Get("/v1/not-documented/{id}/", func(http.ResponseWriter, *http.Request) {})
	documented := documentedOperations(doc)
	documented[apiOperation{"PATCH", "/v1/apps/{name}"}] = &openapi3.Operation{}
	undocumented, unrouted := diffOperations(routerOperations(t, h), documented)
	if !slices.Contains(undocumented, "GET /v1/not-documented/{id}") {
		t.Errorf("undocumented = %q, want the fake route among them", undocumented)
	}
	if !slices.Contains(unrouted, "PATCH /v1/apps/{name}") {
		t.Errorf("unrouted = %q, want the fake operation among them", unrouted)
	}
}

// effectiveSecurity is the operation's security, or the document's.
func effectiveSecurity(doc *openapi3.T, op *openapi3.Operation) openapi3.SecurityRequirements {
	if op.Security != nil {
		return *op.Security
	}
	return doc.Security
}

func requiresBearer(doc *openapi3.T, op *openapi3.Operation) bool {
	for _, req := range effectiveSecurity(doc, op) {
		if _, ok := req["bearerAuth"]; ok {
			return true
		}
	}
	return false
}

func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	ids := map[string]string{}
	for o, op := range documentedOperations(doc) {
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", o)
		} else if prev, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s share the operationId %q", prev, o, op.OperationID)
		} else {
			ids[op.OperationID] = o.String()
		}
		if op.Summary == "" || op.Description == "" {
			t.Errorf("%s needs a summary and a description", o)
		}
		if op.Responses == nil {
			t.Errorf("%s has no responses", o)
			continue
		}
		ok2xx := false
		for code, resp := range op.Responses.Map() {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: response %q is not a status code", o, code)
				continue
			}
			if n >= 200 && n < 300 || (n == 101 && o.path == "/v1/web/{address}/ws") {
				ok2xx = true
			}
			if resp.Value == nil || resp.Value.Description == nil || *resp.Value.Description == "" {
				t.Errorf("%s: response %s has no description", o, code)
				continue
			}
			if n >= 400 {
				if mt := resp.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Ref != "#/components/schemas/Error" {
					t.Errorf("%s: response %s is JSON but not an Error", o, code)
				}
			}
			if n == 429 && resp.Value.Headers["Retry-After"] == nil {
				t.Errorf("%s: 429 does not document Retry-After", o)
			}
		}
		if !ok2xx {
			t.Errorf("%s documents no 2xx response", o)
		}
		if requiresBearer(doc, op) && op.Responses.Status(401) == nil {
			t.Errorf("%s needs a key but does not document 401", o)
		}
	}
}

// TestOpenAPISecurityMatchesRouter sends every documented operation without
// a key: the authenticated ones must answer 401 (from the middleware, before
// any handler runs), the public ones must reach their handler.
func TestOpenAPISecurityMatchesRouter(t *testing.T) {
	doc := loadOpenAPI(t)
	h, web := newOpenAPIRouter()
	for o, op := range documentedOperations(doc) {
		path := openapiChiParam.ReplaceAllString(o.path, "x")
		req := httptest.NewRequest(o.method, path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		calls := web.take()
		if requiresBearer(doc, op) {
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s without a key: %d, want 401 (or the document should not require bearerAuth)", o, rec.Code)
			} else if rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", o)
			}
			continue
		}
		if rec.Code == http.StatusUnauthorized {
			t.Errorf("%s is public in the document but the router wants a key", o)
			continue
		}
		switch {
		case strings.HasPrefix(o.path, "/v1/web/") || strings.HasPrefix(o.path, "/chat/"):
			want := "message"
			switch {
			case strings.HasSuffix(o.path, "/ws"):
				want = "ws"
			case strings.HasPrefix(o.path, "/chat/"):
				want = "page"
			}
			if !slices.Equal(calls, []string{want}) {
				t.Errorf("%s did not reach the web channel's %s handler (calls %q, status %d)", o, want, calls, rec.Code)
			}
		case rec.Code != http.StatusOK:
			t.Errorf("%s without a key: %d, want 200", o, rec.Code)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	h, _ := newOpenAPIRouter()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Body.String() != string(OpenAPI()) {
		t.Error("GET /v1/openapi.json does not serve the embedded document")
	}
}

// openapiJSONFields returns the JSON names of a struct's fields.
func openapiJSONFields(v any) []string {
	var out []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// openapiSchemaFields returns the property names of a schema, through allOf.
func openapiSchemaFields(s *openapi3.Schema) []string {
	seen := map[string]bool{}
	var walk func(*openapi3.Schema)
	walk = func(s *openapi3.Schema) {
		for name := range s.Properties {
			seen[name] = true
		}
		for _, sub := range s.AllOf {
			walk(sub.Value)
		}
	}
	walk(s)
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPISchemasMatchJSON compares the documented schemas with the
// json tags of the types the handlers encode and decode.
func TestOpenAPISchemasMatchJSON(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, v := range map[string]any{
		"Error":           errorBody{},
		"NewAccount":      accountJSON{},
		"App":             appJSON{},
		"AppVersion":      versionJSON{},
		"Address":         addressJSON{},
		"SessionDetail":   sessionJSON{},
		"TranscriptEntry": store.TranscriptEntry{},
		"LogLine":         logJSON{},
		"TurnRequest":     web.TurnRequest{},
		"TurnResponse":    web.TurnResponse{},
		"Reply":           web.Reply{},
	} {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			t.Errorf("components.schemas.%s is missing", name)
			continue
		}
		got, want := openapiSchemaFields(ref.Value), openapiJSONFields(v)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %q; %T encodes %q", name, got, v, want)
		}
	}
	// Account is NewAccount without the key.
	acct := openapiSchemaFields(doc.Components.Schemas["Account"].Value)
	want := slices.DeleteFunc(openapiJSONFields(accountJSON{}), func(s string) bool { return s == "api_key" })
	if !slices.Equal(acct, want) {
		t.Errorf("schema Account has properties %q, want %q", acct, want)
	}
	// Session is SessionDetail without the transcript.
	sess := openapiSchemaFields(doc.Components.Schemas["Session"].Value)
	want = slices.DeleteFunc(openapiJSONFields(sessionJSON{}), func(s string) bool { return s == "transcript" })
	if !slices.Equal(sess, want) {
		t.Errorf("schema Session has properties %q, want %q", sess, want)
	}
}
