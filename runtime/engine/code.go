package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/chorus-dev/chorus/channels"
	"github.com/chorus-dev/chorus/runtime/sandbox"
	"github.com/chorus-dev/chorus/store"
)

// route is what an address resolves to.
type route struct {
	AccountID int64
	AppID     int64
	AppName   string
	Version   int
}

func (e *Engine) route(ctx context.Context, addr channels.Address) (route, error) {
	e.routeMu.Lock()
	rt, ok := e.routes[addr]
	gen := e.routeGen
	e.routeMu.Unlock()
	if ok {
		return rt, nil
	}
	rec, err := e.cfg.Store.Address(ctx, string(addr.Network), addr.ID)
	if errors.Is(err, store.ErrNotFound) {
		return route{}, ErrNoApp
	}
	if err != nil {
		return route{}, err
	}
	app, err := e.cfg.Store.AppByID(ctx, rec.AppID)
	if err != nil {
		return route{}, err
	}
	rt = route{AccountID: app.AccountID, AppID: app.ID, AppName: app.Name, Version: app.LiveVersion}
	e.routeMu.Lock()
	if e.routeGen == gen { // nothing changed while we read
		e.routes[addr] = rt
	}
	e.routeMu.Unlock()
	return rt, nil
}

func (e *Engine) appConfig(ctx context.Context, appID int64) (map[string]string, error) {
	e.routeMu.Lock()
	c, ok := e.configs[appID]
	gen := e.routeGen
	e.routeMu.Unlock()
	if ok {
		return c, nil
	}
	c, err := e.cfg.Store.Config(ctx, appID)
	if err != nil {
		return nil, err
	}
	e.routeMu.Lock()
	if e.routeGen == gen {
		e.configs[appID] = c
	}
	e.routeMu.Unlock()
	return c, nil
}

// compiled is one app version ready to run. It is immutable except for the
// lazily built lookup indexes.
type compiled struct {
	protos map[string]*lua.FunctionProto // by file name ("main.lua", "lib/x.lua")
	files  map[string][]byte

	mu      sync.Mutex
	indexes map[string]*lookupIndex
}

type lookupIndex struct {
	once sync.Once
	rows map[string][]string
	err  error
}

func compileAll(files map[string][]byte) (map[string]*lua.FunctionProto, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".lua") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	protos := make(map[string]*lua.FunctionProto, len(names))
	for _, n := range names {
		p, err := sandbox.Compile(n, files[n])
		if err != nil {
			return nil, err
		}
		protos[n] = p
	}
	return protos, nil
}

type codeKey struct {
	app     int64
	version int
}

type codeCache struct {
	st  store.Apps
	max int

	mu      sync.Mutex
	entries map[codeKey]*codeEntry
}

type codeEntry struct {
	once sync.Once
	c    *compiled
	err  error
}

func newCodeCache(st store.Apps, max int) *codeCache {
	return &codeCache{st: st, max: max, entries: map[codeKey]*codeEntry{}}
}

func (cc *codeCache) get(ctx context.Context, app int64, version int) (*compiled, error) {
	k := codeKey{app, version}
	cc.mu.Lock()
	en := cc.entries[k]
	if en == nil {
		if len(cc.entries) >= cc.max {
			for old := range cc.entries { // drop one at random
				delete(cc.entries, old)
				break
			}
		}
		en = &codeEntry{}
		cc.entries[k] = en
	}
	cc.mu.Unlock()
	en.once.Do(func() {
		v, err := cc.st.Version(ctx, app, version)
		if err != nil {
			en.err = fmt.Errorf("load app version %d: %w", version, err)
			return
		}
		protos, err := compileAll(v.Files)
		if err != nil {
			en.err = err
			return
		}
		if protos["main.lua"] == nil {
			en.err = errors.New("app version has no main.lua")
			return
		}
		en.c = &compiled{protos: protos, files: v.Files, indexes: map[string]*lookupIndex{}}
	})
	if en.err != nil {
		cc.mu.Lock()
		if cc.entries[k] == en {
			delete(cc.entries, k) // retry next time (the store may recover)
		}
		cc.mu.Unlock()
	}
	return en.c, en.err
}

// lookup returns the fields of the first row of asset name whose first
// field is key. The index is built once per app version.
func (c *compiled) lookup(name, key string) ([]string, error) {
	c.mu.Lock()
	ix := c.indexes[name]
	if ix == nil {
		ix = &lookupIndex{}
		c.indexes[name] = ix
	}
	c.mu.Unlock()
	ix.once.Do(func() { ix.rows, ix.err = c.buildIndex(name) })
	if ix.err != nil {
		return nil, ix.err
	}
	return ix.rows[key], nil
}

func (c *compiled) buildIndex(name string) (map[string][]string, error) {
	data, ok := c.files[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("lookup: no asset %q in the app's bundle", name)
	}
	base := name
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("lookup: %s: %w", name, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("lookup: %s: %w", name, err)
		}
		base = strings.TrimSuffix(name, ".gz")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = false
	if strings.HasSuffix(base, ".tsv") || (!strings.HasSuffix(base, ".csv") && bytes.IndexByte(firstLine(data), '\t') >= 0) {
		r.Comma = '\t'
	}
	rows := map[string][]string{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("lookup: %s: %w", name, err)
		}
		if len(rec) == 0 {
			continue
		}
		if _, dup := rows[rec[0]]; !dup {
			rows[rec[0]] = rec
		}
	}
	return rows, nil
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}
