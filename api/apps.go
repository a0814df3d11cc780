package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/chorus-dev/chorus/runtime/engine"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/store"
)

type apps struct{ s *Server }

func (a apps) Routes() chi.Router {
	r := chi.NewRouter()
	r.Get("/", a.list)
	r.Route("/{name}", func(r chi.Router) {
		r.Put("/", a.put)
		r.Get("/", a.get)
		r.Delete("/", a.delete)
		r.Get("/source", a.source)
		r.Get("/versions", a.versions)
		r.Post("/rollback", a.rollback)
		r.Put("/config", a.putConfig)
		r.Get("/config", a.getConfig)
	})
	return r
}

var appName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

type appJSON struct {
	Name      string  `json:"name"`
	Version   int     `json:"version"`
	Versions  int     `json:"versions"`
	AccountID int64   `json:"account_id"`
	SHA256    string  `json:"sha256,omitempty"`
	CreatedAt *string `json:"created_at"`
	UpdatedAt *string `json:"updated_at,omitempty"`
}

func toAppJSON(a store.App) appJSON {
	return appJSON{Name: a.Name, Version: a.LiveVersion, Versions: a.Versions, AccountID: a.AccountID, CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt)}
}

// app finds the named app of the caller (admin: ?account= or its own).
func (a apps) app(w http.ResponseWriter, r *http.Request) (store.App, bool) {
	acct := AccountFrom(r.Context())
	owner := acct.ID
	if isAdmin(acct) {
		if v := r.URL.Query().Get("account"); v != "" {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				fail(w, http.StatusBadRequest, "bad_account", "account must be an account id")
				return store.App{}, false
			}
			owner = id
		}
	}
	name := chi.URLParam(r, "name")
	app, err := a.s.cfg.Store.App(r.Context(), owner, name)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "app "+strconv.Quote(name))
		return app, false
	}
	if err != nil {
		a.s.internal(w, "look up app", err)
		return app, false
	}
	return app, true
}

func (a apps) list(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.cfg.Store.ListApps(r.Context(), scope(AccountFrom(r.Context())))
	if err != nil {
		a.s.internal(w, "list apps", err)
		return
	}
	out := make([]appJSON, 0, len(list))
	for _, x := range list {
		out = append(out, toAppJSON(x))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a apps) get(w http.ResponseWriter, r *http.Request) {
	app, ok := a.app(w, r)
	if !ok {
		return
	}
	out := toAppJSON(app)
	if v, err := a.s.cfg.Store.Version(r.Context(), app.ID, app.LiveVersion); err == nil {
		out.SHA256 = v.SHA256
	}
	writeJSON(w, http.StatusOK, out)
}

func (a apps) put(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	name := chi.URLParam(r, "name")
	if !appName.MatchString(name) {
		fail(w, http.StatusBadRequest, "bad_name", "app names are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
		return
	}
	kind, ok := uploadKind(r.Header.Get("Content-Type"))
	if !ok {
		fail(w, http.StatusUnsupportedMediaType, "bad_content_type", "send a script as text/x-lua or a bundle as application/gzip (tar.gz) or application/zip")
		return
	}
	limit := int64(MaxScript)
	if kind != "script" {
		limit = MaxBundle
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "too_large", "uploads are limited to "+strconv.FormatInt(limit>>20, 10)+" MiB for this content type")
			return
		}
		fail(w, http.StatusBadRequest, "bad_body", "reading the upload failed: "+err.Error())
		return
	}
	if len(body) == 0 {
		fail(w, http.StatusBadRequest, "empty", "the upload is empty")
		return
	}
	var files map[string][]byte
	vkind := "bundle"
	if kind == "script" {
		files = map[string][]byte{"main.lua": body}
		vkind = "script"
	} else {
		files, err = unpack(kind, body)
		if errors.Is(err, ErrTooLarge) {
			fail(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
			return
		}
		if err != nil {
			fail(w, http.StatusBadRequest, "bad_bundle", err.Error())
			return
		}
	}
	if err := engine.CompileFiles(files); err != nil {
		var ce *sandbox.CompileError
		if errors.As(err, &ce) {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error(), Code: "compile_error", Line: ce.Line, File: ce.Name})
			return
		}
		fail(w, http.StatusUnprocessableEntity, "compile_error", err.Error())
		return
	}
	sum := sha256.Sum256(body)
	v := store.Version{Kind: vkind, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)), Files: files}
	if kind != "script" {
		v.Archive = body
	}
	app, ver, created, err := a.s.cfg.Store.PutVersion(r.Context(), acct.ID, name, v)
	if err != nil {
		a.s.internal(w, "store app", err)
		return
	}
	a.s.changed(false)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"name": app.Name, "version": ver.Version, "sha256": ver.SHA256, "created_at": ts(ver.CreatedAt)})
}

func (a apps) delete(w http.ResponseWriter, r *http.Request) {
	app, ok := a.app(w, r)
	if !ok {
		return
	}
	if err := a.s.cfg.Store.DeleteApp(r.Context(), app.ID); err != nil {
		a.s.internal(w, "delete app", err)
		return
	}
	a.s.changed(true)
	w.WriteHeader(http.StatusNoContent)
}

func (a apps) source(w http.ResponseWriter, r *http.Request) {
	app, ok := a.app(w, r)
	if !ok {
		return
	}
	v, err := a.s.cfg.Store.Version(r.Context(), app.ID, app.LiveVersion)
	if err != nil {
		a.s.internal(w, "load version", err)
		return
	}
	w.Header().Set("Content-Type", "text/x-lua; charset=utf-8")
	_, _ = w.Write(v.Files["main.lua"])
}

type versionJSON struct {
	Version   int     `json:"version"`
	Kind      string  `json:"kind"`
	SHA256    string  `json:"sha256"`
	Size      int64   `json:"size"`
	Live      bool    `json:"live"`
	CreatedAt *string `json:"created_at"`
}

func (a apps) versions(w http.ResponseWriter, r *http.Request) {
	app, ok := a.app(w, r)
	if !ok {
		return
	}
	vs, err := a.s.cfg.Store.ListVersions(r.Context(), app.ID)
	if err != nil {
		a.s.internal(w, "list versions", err)
		return
	}
	out := make([]versionJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, versionJSON{Version: v.Version, Kind: v.Kind, SHA256: v.SHA256, Size: v.Size, Live: v.Version == app.LiveVersion, CreatedAt: ts(v.CreatedAt)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	writeJSON(w, http.StatusOK, out)
}

func (a apps) rollback(w http.ResponseWriter, r *http.Request) {
	app, ok := a.app(w, r)
	if !ok {
		return
	}
	var req struct {
		Version int `json:"version"`
	}
	if !decode(w, r, 4096, &req) {
		return
	}
	if _, err := a.s.cfg.Store.Version(r.Context(), app.ID, req.Version); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			notFound(w, "version "+strconv.Itoa(req.Version)+" of app "+app.Name)
			return
		}
		a.s.internal(w, "load version", err)
		return
	}
	if err := a.s.cfg.Store.SetLive(r.Context(), app.ID, req.Version); err != nil {
		a.s.internal(w, "roll back", err)
		return
	}
	a.s.changed(false)
	app.LiveVersion = req.Version
	writeJSON(w, http.StatusOK, toAppJSON(app))
}

var configKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (a apps) putConfig(w http.ResponseWriter, r *http.Request) {
	app, ok := a.app(w, r)
	if !ok {
		return
	}
	var req map[string]any
	if !decode(w, r, 256<<10, &req) {
		return
	}
	values := make(map[string]string, len(req))
	for k, v := range req {
		if !configKey.MatchString(k) {
			fail(w, http.StatusBadRequest, "bad_key", "config key "+strconv.Quote(k)+" must be an identifier (letters, digits, _), as scripts read it as config."+k)
			return
		}
		switch x := v.(type) {
		case string:
			values[k] = x
		case float64, bool:
			values[k] = jsonScalar(x)
		default:
			fail(w, http.StatusBadRequest, "bad_value", "config values are strings, numbers or booleans ("+k+")")
			return
		}
	}
	if err := a.s.cfg.Store.MergeConfig(r.Context(), app.ID, values); err != nil {
		a.s.internal(w, "store config", err)
		return
	}
	a.s.changed(false)
	a.showConfig(w, r, app)
}

func (a apps) getConfig(w http.ResponseWriter, r *http.Request) {
	app, ok := a.app(w, r)
	if !ok {
		return
	}
	a.showConfig(w, r, app)
}

func (a apps) showConfig(w http.ResponseWriter, r *http.Request, app store.App) {
	c, err := a.s.cfg.Store.Config(r.Context(), app.ID)
	if err != nil {
		a.s.internal(w, "load config", err)
		return
	}
	out := make(map[string]string, len(c))
	for k := range c {
		out[k] = "********"
	}
	writeJSON(w, http.StatusOK, out)
}

func jsonScalar(v any) string {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}
