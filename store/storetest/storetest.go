package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-dev/chorus/store"
)

// Run runs the conformance suite. open returns a fresh, empty store and
// closes it when the subtest ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"Accounts", testAccounts},
		{"AppVersions", testAppVersions},
		{"AppsPerAccount", testAppsPerAccount},
		{"Addresses", testAddresses},
		{"Credentials", testCredentials},
		{"Config", testConfig},
		{"KV", testKV},
		{"KVExpiry", testKVExpiry},
		{"KVUsage", testKVUsage},
		{"Sessions", testSessions},
		{"SessionFilter", testSessionFilter},
		{"Logs", testLogs},
		{"ConcurrentWrites", testConcurrentWrites},
		{"MarkInterrupted", testMarkInterrupted},
		{"DeleteApp", testDeleteApp},
		{"Recordings", testRecordings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// must(f())(t) is f's value, failing t on f's error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// sameTime: equal to the microsecond.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d <= time.Microsecond && d >= -time.Microsecond && a.IsZero() == b.IsZero()
}

func account(t *testing.T, st store.Store, name string) store.Account {
	t.Helper()
	a, _, err := st.CreateAccount(ctxOf(t), name, store.RoleDeveloper)
	noErr(t, err)
	return a
}

func script(src string) store.Version {
	return store.Version{Kind: "script", Files: map[string][]byte{"main.lua": []byte(src)}, Archive: []byte(src)}
}

func app(t *testing.T, st store.Store, accountID int64, name string) store.App {
	t.Helper()
	a, _, _, err := st.PutVersion(ctxOf(t), accountID, name, script(`say("hi")`))
	noErr(t, err)
	return a
}

func testAccounts(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	admin, key, err := st.CreateAccount(ctx, "admin", store.RoleAdmin)
	noErr(t, err)
	if admin.ID == 0 || admin.Name != "admin" || admin.Role != store.RoleAdmin || admin.CreatedAt.IsZero() {
		t.Fatalf("CreateAccount = %+v", admin)
	}
	if !strings.HasPrefix(key, "chorus_") || len(key) < 40 {
		t.Fatalf("key %q: want chorus_ and 32 random bytes", key)
	}
	got := must(st.AccountByKey(ctx, key))(t)
	if got.ID != admin.ID || got.Role != store.RoleAdmin || !sameTime(got.CreatedAt, admin.CreatedAt) {
		t.Fatalf("AccountByKey = %+v, want %+v", got, admin)
	}
	_, err = st.AccountByKey(ctx, key+"x")
	wantErr(t, err, store.ErrNotFound, "AccountByKey(wrong key)")
	_, err = st.AccountByKey(ctx, "")
	wantErr(t, err, store.ErrNotFound, "AccountByKey(empty)")

	dev, err := st.CreateAccountWithKey(ctx, "dev", store.RoleDeveloper, "chorus_given-key")
	noErr(t, err)
	if got := must(st.AccountByKey(ctx, "chorus_given-key"))(t); got.ID != dev.ID || got.Role != store.RoleDeveloper {
		t.Fatalf("AccountByKey(given) = %+v, want %+v", got, dev)
	}
	if got := must(st.Account(ctx, dev.ID))(t); got.Name != "dev" {
		t.Fatalf("Account = %+v", got)
	}
	if got := must(st.AccountByName(ctx, "admin"))(t); got.ID != admin.ID {
		t.Fatalf("AccountByName = %+v", got)
	}
	_, err = st.Account(ctx, dev.ID+1000)
	wantErr(t, err, store.ErrNotFound, "Account(unknown)")
	_, err = st.AccountByName(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound, "AccountByName(unknown)")

	_, _, err = st.CreateAccount(ctx, "dev", store.RoleOperator)
	wantErr(t, err, store.ErrConflict, "CreateAccount(taken name)")
	_, err = st.CreateAccountWithKey(ctx, "other", store.RoleOperator, "chorus_given-key")
	wantErr(t, err, store.ErrConflict, "CreateAccountWithKey(taken key)")
	if _, err := st.AccountByName(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed CreateAccountWithKey left account %q behind (err %v)", "other", err)
	}

	list := must(st.ListAccounts(ctx))(t)
	if len(list) != 2 || list[0].ID != admin.ID || list[1].ID != dev.ID {
		t.Fatalf("ListAccounts = %+v", list)
	}

	// SetKey rotates: the new key is the account's only one.
	noErr(t, st.SetKey(ctx, admin.ID, "chorus_rotated"))
	if got := must(st.AccountByKey(ctx, "chorus_rotated"))(t); got.ID != admin.ID {
		t.Fatalf("AccountByKey(rotated) = %+v", got)
	}
	_, err = st.AccountByKey(ctx, key)
	wantErr(t, err, store.ErrNotFound, "AccountByKey(key before rotation)")
	wantErr(t, st.SetKey(ctx, dev.ID, "chorus_rotated"), store.ErrConflict, "SetKey(another account's key)")
	wantErr(t, st.SetKey(ctx, dev.ID+1000, "chorus_x"), store.ErrNotFound, "SetKey(unknown account)")
	if got := must(st.AccountByKey(ctx, "chorus_given-key"))(t); got.ID != dev.ID {
		t.Fatalf("a failed SetKey changed dev's key: %+v", got)
	}
}

func testAppVersions(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	acc := account(t, st, "dev")
	v1 := script(`-- one`)
	v1.SHA256 = strings.Repeat("a", 64)
	v1.Size = 7
	a, ver, created, err := st.PutVersion(ctx, acc.ID, "hello", v1)
	noErr(t, err)
	if !created || a.ID == 0 || a.Name != "hello" || a.AccountID != acc.ID || a.LiveVersion != 1 || a.Versions != 1 {
		t.Fatalf("PutVersion 1 = %+v created=%v", a, created)
	}
	if ver.Version != 1 || ver.AppID != a.ID || ver.Kind != "script" || ver.SHA256 != v1.SHA256 || ver.Size != 7 || ver.CreatedAt.IsZero() {
		t.Fatalf("PutVersion 1 version = %+v", ver)
	}

	bundle := store.Version{Kind: "bundle", SHA256: strings.Repeat("b", 64), Size: 5,
		Files:   map[string][]byte{"main.lua": []byte(`require("lib")`), "lib.lua": []byte(`return {}`), "sounds/hi.wav": {0, 1, 2, 0}},
		Archive: []byte{0x1f, 0x8b, 0, 1, 2}}
	a2, ver2, created, err := st.PutVersion(ctx, acc.ID, "hello", bundle)
	noErr(t, err)
	if created || a2.ID != a.ID || a2.LiveVersion != 2 || a2.Versions != 2 || ver2.Version != 2 {
		t.Fatalf("PutVersion 2 = %+v %+v created=%v", a2, ver2, created)
	}

	got := must(st.Version(ctx, a.ID, 2))(t)
	if got.Kind != "bundle" || got.SHA256 != bundle.SHA256 || got.Size != 5 || !bytes.Equal(got.Archive, bundle.Archive) {
		t.Fatalf("Version 2 = %+v", got)
	}
	if !reflect.DeepEqual(got.Files, bundle.Files) {
		t.Fatalf("Version 2 files = %q, want %q", got.Files, bundle.Files)
	}
	got1 := must(st.Version(ctx, a.ID, 1))(t)
	if string(got1.Files["main.lua"]) != `-- one` || len(got1.Files) != 1 || got1.Kind != "script" {
		t.Fatalf("Version 1 = %+v", got1)
	}
	_, err = st.Version(ctx, a.ID, 3)
	wantErr(t, err, store.ErrNotFound, "Version(3)")

	vs := must(st.ListVersions(ctx, a.ID))(t)
	if len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || vs[1].SHA256 != bundle.SHA256 {
		t.Fatalf("ListVersions = %+v", vs)
	}
	for _, v := range vs {
		if len(v.Files) != 0 || len(v.Archive) != 0 {
			t.Fatalf("ListVersions carries files: %+v", v)
		}
	}

	// Rollback: no new version is made.
	noErr(t, st.SetLive(ctx, a.ID, 1))
	a3 := must(st.App(ctx, acc.ID, "hello"))(t)
	if a3.LiveVersion != 1 || a3.Versions != 2 {
		t.Fatalf("after SetLive(1): %+v", a3)
	}
	wantErr(t, st.SetLive(ctx, a.ID, 9), store.ErrNotFound, "SetLive(9)")
	wantErr(t, st.SetLive(ctx, a.ID+1000, 1), store.ErrNotFound, "SetLive(unknown app)")
	if a4 := must(st.AppByID(ctx, a.ID))(t); a4.LiveVersion != 1 {
		t.Fatalf("AppByID after failed SetLive: %+v", a4)
	}

	// A new version goes live and numbers on.
	_, ver3, _, err := st.PutVersion(ctx, acc.ID, "hello", script(`-- three`))
	noErr(t, err)
	if a5 := must(st.AppByID(ctx, a.ID))(t); ver3.Version != 3 || a5.LiveVersion != 3 || a5.Versions != 3 {
		t.Fatalf("PutVersion 3: %+v %+v", ver3, a5)
	}

	_, err = st.App(ctx, acc.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "App(unknown)")
	_, err = st.AppByID(ctx, a.ID+1000)
	wantErr(t, err, store.ErrNotFound, "AppByID(unknown)")
	_, err = st.ListVersions(ctx, a.ID+1000)
	wantErr(t, err, store.ErrNotFound, "ListVersions(unknown)")
}

func testAppsPerAccount(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	alice, bob := account(t, st, "alice"), account(t, st, "bob")
	aHello := app(t, st, alice.ID, "hello")
	app(t, st, alice.ID, "bye")
	bHello := app(t, st, bob.ID, "hello") // names are per account
	if aHello.ID == bHello.ID {
		t.Fatal("two accounts share one app")
	}
	if got := must(st.App(ctx, bob.ID, "hello"))(t); got.ID != bHello.ID || got.AccountID != bob.ID {
		t.Fatalf("App(bob, hello) = %+v", got)
	}
	_, err := st.App(ctx, bob.ID, "bye")
	wantErr(t, err, store.ErrNotFound, "App(bob, alice's app)")

	names := func(apps []store.App) []string {
		var out []string
		for _, a := range apps {
			out = append(out, fmt.Sprintf("%d/%s", a.AccountID, a.Name))
		}
		return out
	}
	ofAlice := must(st.ListApps(ctx, alice.ID))(t)
	if got, want := names(ofAlice), []string{fmt.Sprintf("%d/bye", alice.ID), fmt.Sprintf("%d/hello", alice.ID)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListApps(alice) = %v, want %v", got, want)
	}
	if all := must(st.ListApps(ctx, 0))(t); len(all) != 3 {
		t.Fatalf("ListApps(0) = %v", names(all))
	}
	if none := must(st.ListApps(ctx, bob.ID+1000))(t); len(none) != 0 {
		t.Fatalf("ListApps(unknown) = %v", names(none))
	}
}

func testAddresses(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	alice, bob := account(t, st, "alice"), account(t, st, "bob")
	hello, bye := app(t, st, alice.ID, "hello"), app(t, st, alice.ID, "bye")
	bobs := app(t, st, bob.ID, "bobs")

	rec, err := st.AddAddress(ctx, store.AddressRecord{Network: "sms", Address: "+1 (555) 010-0100", AccountID: alice.ID, AppID: hello.ID, Route: "main"})
	noErr(t, err)
	if rec.Address != "+15550100100" || rec.AppName != "hello" || rec.Route != "main" || rec.CreatedAt.IsZero() {
		t.Fatalf("AddAddress = %+v", rec)
	}
	// The same number written another way is the same address.
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "sms", Address: "15550100100", AccountID: alice.ID, AppID: bye.ID})
	wantErr(t, err, store.ErrConflict, "AddAddress(same number)")
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "sms", Address: "+15550100100", AccountID: bob.ID, AppID: bobs.ID})
	wantErr(t, err, store.ErrConflict, "AddAddress(number of another account)")
	got := must(st.Address(ctx, "sms", "1-555-010-0100"))(t)
	if got.AppID != hello.ID || got.AppName != "hello" || got.AccountID != alice.ID || got.Route != "main" {
		t.Fatalf("Address = %+v", got)
	}

	// Handles are case-insensitive; the same name on another network is free.
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "twitter", Address: "@HelloBot", AccountID: alice.ID, AppID: hello.ID})
	noErr(t, err)
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "twitter", Address: "hellobot", AccountID: bob.ID, AppID: bobs.ID})
	wantErr(t, err, store.ErrConflict, "AddAddress(twitter handle in other case)")
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "xmpp", Address: "Hello@Example.COM/phone", AccountID: alice.ID, AppID: hello.ID})
	noErr(t, err)
	if got := must(st.Address(ctx, "xmpp", "hello@example.com"))(t); got.Address != "hello@example.com" {
		t.Fatalf("Address(xmpp) = %+v", got)
	}
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "hello", AccountID: alice.ID, AppID: hello.ID})
	noErr(t, err)
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "p2p", Address: "hello", AccountID: bob.ID, AppID: bobs.ID})
	noErr(t, err)

	// An app of another account (or none) cannot be bound.
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "stolen", AccountID: bob.ID, AppID: hello.ID})
	wantErr(t, err, store.ErrNotFound, "AddAddress(app of another account)")
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "ghost", AccountID: alice.ID, AppID: hello.ID + 1000})
	wantErr(t, err, store.ErrNotFound, "AddAddress(unknown app)")

	keys := func(rs []store.AddressRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Network+":"+r.Address+"="+r.AppName)
		}
		return out
	}
	if got, want := keys(must(st.ListAddresses(ctx, alice.ID))(t)),
		[]string{"sms:+15550100100=hello", "twitter:@hellobot=hello", "web:hello=hello", "xmpp:hello@example.com=hello"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListAddresses(alice) = %v, want %v", got, want)
	}
	if got := keys(must(st.ListAddresses(ctx, bob.ID))(t)); !reflect.DeepEqual(got, []string{"p2p:hello=bobs"}) {
		t.Fatalf("ListAddresses(bob) = %v", got)
	}
	if all := must(st.ListAddresses(ctx, 0))(t); len(all) != 5 {
		t.Fatalf("ListAddresses(0) = %v", keys(all))
	}

	noErr(t, st.DeleteAddress(ctx, "sms", "+1 555 010 0100"))
	_, err = st.Address(ctx, "sms", "+15550100100")
	wantErr(t, err, store.ErrNotFound, "Address(deleted)")
	wantErr(t, st.DeleteAddress(ctx, "sms", "+15550100100"), store.ErrNotFound, "DeleteAddress(deleted)")
	_, err = st.Address(ctx, "web", "nobody")
	wantErr(t, err, store.ErrNotFound, "Address(unknown)")
	// Released, the number can be bound again.
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "sms", Address: "+15550100100", AccountID: bob.ID, AppID: bobs.ID})
	noErr(t, err)
}

func testCredentials(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	acc := account(t, st, "dev")
	a := app(t, st, acc.ID, "bot")
	creds := []byte(`{"password":"s3cr3t-pa55","server":"xmpp.example.com:5222"}`)
	rec, err := st.AddAddress(ctx, store.AddressRecord{Network: "xmpp", Address: "bot@example.com", AccountID: acc.ID, AppID: a.ID, Credentials: creds})
	noErr(t, err)
	if !bytes.Equal(rec.Credentials, creds) {
		t.Fatalf("AddAddress credentials = %q", rec.Credentials)
	}
	if got := must(st.Address(ctx, "xmpp", "bot@example.com"))(t); !bytes.Equal(got.Credentials, creds) {
		t.Fatalf("Address credentials = %q, want %q", got.Credentials, creds)
	}
	list := must(st.ListAddresses(ctx, acc.ID))(t)
	if len(list) != 1 || !bytes.Equal(list[0].Credentials, creds) {
		t.Fatalf("ListAddresses credentials = %+v", list)
	}
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "plain", AccountID: acc.ID, AppID: a.ID})
	noErr(t, err)
	if got := must(st.Address(ctx, "web", "plain"))(t); len(got.Credentials) != 0 {
		t.Fatalf("Address without credentials = %q", got.Credentials)
	}
}

func testConfig(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	acc := account(t, st, "dev")
	a, b := app(t, st, acc.ID, "a"), app(t, st, acc.ID, "b")
	if got := must(st.Config(ctx, a.ID))(t); len(got) != 0 {
		t.Fatalf("Config(new app) = %v", got)
	}
	noErr(t, st.MergeConfig(ctx, a.ID, map[string]string{"API_TOKEN": "tok-1", "GREETING": "hello"}))
	noErr(t, st.MergeConfig(ctx, a.ID, map[string]string{"API_TOKEN": "tok-2", "LANG": "fr"}))
	noErr(t, st.MergeConfig(ctx, b.ID, map[string]string{"OTHER": "x"}))
	want := map[string]string{"API_TOKEN": "tok-2", "GREETING": "hello", "LANG": "fr"}
	if got := must(st.Config(ctx, a.ID))(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("Config = %v, want %v", got, want)
	}
	// An empty value removes the key.
	noErr(t, st.MergeConfig(ctx, a.ID, map[string]string{"GREETING": ""}))
	delete(want, "GREETING")
	if got := must(st.Config(ctx, a.ID))(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("Config after removal = %v, want %v", got, want)
	}
	if got := must(st.Config(ctx, b.ID))(t); !reflect.DeepEqual(got, map[string]string{"OTHER": "x"}) {
		t.Fatalf("Config(b) = %v", got)
	}
	_, err := st.Config(ctx, a.ID+1000)
	wantErr(t, err, store.ErrNotFound, "Config(unknown app)")
	wantErr(t, st.MergeConfig(ctx, a.ID+1000, map[string]string{"K": "v"}), store.ErrNotFound, "MergeConfig(unknown app)")
}

func testKVUsage(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	a := app(t, st, account(t, st, "usage").ID, "u")
	noErr(t, st.KVSet(ctx, a.ID, "k1", "vvvv", 0))
	noErr(t, st.KVSet(ctx, a.ID, "k2", "é", 0))
	noErr(t, st.KVSet(ctx, a.ID, "gone", "x", time.Nanosecond))
	time.Sleep(2 * time.Millisecond)
	n, b, err := st.KVUsage(ctx, a.ID)
	noErr(t, err)
	if n != 2 || b != int64(len("k1vvvv")+len("k2é")) {
		t.Fatalf("KVUsage = %d keys, %d bytes", n, b)
	}
}

func testKV(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	acc := account(t, st, "dev")
	a, b := app(t, st, acc.ID, "a"), app(t, st, acc.ID, "b")
	if _, ok := must2(t)(st.KVGet(ctx, a.ID, "k")); ok {
		t.Fatal("KVGet(missing) found")
	}
	noErr(t, st.KVSet(ctx, a.ID, "k", "v1", 0))
	noErr(t, st.KVSet(ctx, a.ID, "k", "v2", 0))
	noErr(t, st.KVSet(ctx, b.ID, "k", "other", 0))
	noErr(t, st.KVSet(ctx, a.ID, "empty", "", 0))
	if v, ok := must2(t)(st.KVGet(ctx, a.ID, "k")); !ok || v != "v2" {
		t.Fatalf("KVGet = %q %v, want v2", v, ok)
	}
	if v, ok := must2(t)(st.KVGet(ctx, b.ID, "k")); !ok || v != "other" {
		t.Fatalf("KVGet(b) = %q %v", v, ok)
	}
	if v, ok := must2(t)(st.KVGet(ctx, a.ID, "empty")); !ok || v != "" {
		t.Fatalf("KVGet(empty value) = %q %v", v, ok)
	}
	noErr(t, st.KVDelete(ctx, a.ID, "k"))
	noErr(t, st.KVDelete(ctx, a.ID, "k")) // deleting a missing key is fine
	if _, ok := must2(t)(st.KVGet(ctx, a.ID, "k")); ok {
		t.Fatal("KVGet after delete found")
	}
	if v, ok := must2(t)(st.KVGet(ctx, b.ID, "k")); !ok || v != "other" {
		t.Fatalf("KVDelete(a) touched b: %q %v", v, ok)
	}
	wantErr(t, st.KVSet(ctx, a.ID+1000, "k", "v", 0), store.ErrNotFound, "KVSet(unknown app)")
}

func must2(t *testing.T) func(string, bool, error) (string, bool) {
	return func(v string, ok bool, err error) (string, bool) {
		t.Helper()
		noErr(t, err)
		return v, ok
	}
}

func testKVExpiry(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	acc := account(t, st, "dev")
	a := app(t, st, acc.ID, "a")
	noErr(t, st.KVSet(ctx, a.ID, "short", "x", 150*time.Millisecond))
	noErr(t, st.KVSet(ctx, a.ID, "long", "y", time.Hour))
	noErr(t, st.KVSet(ctx, a.ID, "renewed", "z", 150*time.Millisecond))
	noErr(t, st.KVSet(ctx, a.ID, "renewed", "z2", 0)) // ttl 0 keeps it
	if _, ok := must2(t)(st.KVGet(ctx, a.ID, "short")); !ok {
		t.Fatal("KVGet(short) before expiry: absent")
	}
	time.Sleep(250 * time.Millisecond)
	if v, ok := must2(t)(st.KVGet(ctx, a.ID, "short")); ok {
		t.Fatalf("KVGet(short) after expiry = %q", v)
	}
	if v, ok := must2(t)(st.KVGet(ctx, a.ID, "long")); !ok || v != "y" {
		t.Fatalf("KVGet(long) = %q %v", v, ok)
	}
	if v, ok := must2(t)(st.KVGet(ctx, a.ID, "renewed")); !ok || v != "z2" {
		t.Fatalf("KVGet(renewed) = %q %v", v, ok)
	}
	// An expired key can be set again.
	noErr(t, st.KVSet(ctx, a.ID, "short", "again", 0))
	if v, ok := must2(t)(st.KVGet(ctx, a.ID, "short")); !ok || v != "again" {
		t.Fatalf("KVGet(short, set again) = %q %v", v, ok)
	}
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func session(id string, acc, appID int64, app, state string, started time.Time) store.Session {
	return store.Session{ID: id, AccountID: acc, AppID: appID, AppName: app, Version: 1, Network: "web",
		Caller: "someone", Called: app, State: state, StartedAt: started}
}

func sameSession(t *testing.T, got, want store.Session) {
	t.Helper()
	if !sameTime(got.StartedAt, want.StartedAt) || !sameTime(got.EndedAt, want.EndedAt) {
		t.Fatalf("session times = %v..%v, want %v..%v", got.StartedAt, got.EndedAt, want.StartedAt, want.EndedAt)
	}
	if len(got.Transcript) != len(want.Transcript) {
		t.Fatalf("transcript = %+v, want %+v", got.Transcript, want.Transcript)
	}
	for i := range got.Transcript {
		g, w := got.Transcript[i], want.Transcript[i]
		if g.Dir != w.Dir || g.Kind != w.Kind || g.Text != w.Text || !sameTime(g.At, w.At) {
			t.Fatalf("transcript[%d] = %+v, want %+v", i, g, w)
		}
	}
	if len(got.Params) != 0 || len(want.Params) != 0 {
		if !reflect.DeepEqual(got.Params, want.Params) {
			t.Fatalf("params = %#v, want %#v", got.Params, want.Params)
		}
	}
	got.StartedAt, got.EndedAt, got.Transcript, got.Params = want.StartedAt, want.EndedAt, want.Transcript, want.Params
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("session = %+v\nwant %+v", got, want)
	}
}

func testSessions(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	s := session("s1", 7, 70, "hello", "running", t0)
	s.Params = map[string]any{"to": "+15550100", "n": 3.0, "deep": map[string]any{"x": []any{"a", true}}}
	st.SaveSession(s)
	noErr(t, st.Sync(ctx))
	sameSession(t, must(st.Session(ctx, "s1"))(t), s)

	// A save replaces the session.
	s.State = "waiting"
	s.Transcript = []store.TranscriptEntry{{Dir: "out", Kind: "text", Text: "Hello! Name?", At: t0.Add(time.Second)}}
	st.SaveSession(s)
	s.State, s.EndedAt, s.EndReason = "ended", t0.Add(5*time.Second), "completed"
	s.Transcript = append(s.Transcript, store.TranscriptEntry{Dir: "in", Kind: "text", Text: "Ann", At: t0.Add(3 * time.Second)})
	st.SaveSession(s)
	noErr(t, st.Sync(ctx))
	sameSession(t, must(st.Session(ctx, "s1"))(t), s)

	// The store keeps its own copy: changing the caller's after saving does not
	// change what is stored.
	s2 := session("s2", 7, 70, "hello", "running", t0)
	s2.Params = map[string]any{"k": "before"}
	s2.Transcript = []store.TranscriptEntry{{Dir: "in", Kind: "text", Text: "before", At: t0}}
	st.SaveSession(s2)
	s2.Params["k"] = "after"
	s2.Transcript[0].Text = "after"
	noErr(t, st.Sync(ctx))
	if got := must(st.Session(ctx, "s2"))(t); got.Params["k"] != "before" || got.Transcript[0].Text != "before" {
		t.Fatalf("stored session changed with the caller's copy: %+v", got)
	}

	_, err := st.Session(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "Session(unknown)")
	noErr(t, st.Sync(ctx)) // nothing pending
}

func testSessionFilter(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	for i, s := range []store.Session{
		session("a1", 1, 10, "hello", "ended", t0.Add(1*time.Minute)),
		session("a2", 1, 10, "hello", "running", t0.Add(2*time.Minute)),
		session("a3", 1, 11, "bye", "waiting", t0.Add(3*time.Minute)),
		session("b1", 2, 20, "hello", "running", t0.Add(4*time.Minute)),
	} {
		if s.State == "ended" {
			s.EndedAt, s.EndReason = s.StartedAt.Add(time.Duration(i+1)*time.Second), "hangup"
		}
		st.SaveSession(s)
	}
	noErr(t, st.Sync(ctx))
	ids := func(f store.SessionFilter) string {
		t.Helper()
		var out []string
		for _, s := range must(st.ListSessions(ctx, f))(t) {
			out = append(out, s.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		f    store.SessionFilter
		want string
	}{
		{store.SessionFilter{}, "b1,a3,a2,a1"}, // newest first
		{store.SessionFilter{AccountID: 1}, "a3,a2,a1"},
		{store.SessionFilter{AccountID: 1, App: "hello"}, "a2,a1"},
		{store.SessionFilter{App: "hello"}, "b1,a2,a1"},
		{store.SessionFilter{State: "running"}, "b1,a2"},
		{store.SessionFilter{AccountID: 1, State: "ended"}, "a1"},
		{store.SessionFilter{AccountID: 1, Limit: 2}, "a3,a2"},
		{store.SessionFilter{AccountID: 3}, ""},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("ListSessions(%+v) = %s, want %s", tc.f, got, tc.want)
		}
	}
	for i := 0; i < 120; i++ {
		st.SaveSession(session(fmt.Sprintf("many-%03d", i), 5, 50, "many", "ended", t0.Add(time.Duration(i)*time.Second)))
	}
	noErr(t, st.Sync(ctx))
	if got := must(st.ListSessions(ctx, store.SessionFilter{AccountID: 5}))(t); len(got) != 100 || got[0].ID != "many-119" {
		t.Fatalf("ListSessions default limit: %d sessions, first %v", len(got), got[0].ID)
	}
}

func testLogs(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	type line struct {
		acc             int64
		app, sess, text string
		at              time.Duration
	}
	for _, l := range []line{
		{1, "hello", "s1", "one", 0},
		{1, "hello", "s1", "two", time.Second},
		{1, "bye", "s2", "three", 2 * time.Second},
		{2, "hello", "s3", "four", 3 * time.Second},
		{1, "hello", "", "five", 4 * time.Second},
		{1, "hello", "s4", "six", 5 * time.Second},
	} {
		st.AppendLog(store.LogLine{At: t0.Add(l.at), AccountID: l.acc, App: l.app, Session: l.sess, Level: "info", Text: l.text})
	}
	noErr(t, st.Sync(ctx))
	texts := func(f store.LogFilter) string {
		t.Helper()
		var out []string
		for _, l := range must(st.ListLogs(ctx, f))(t) {
			out = append(out, l.Text)
		}
		return strings.Join(out, ",")
	}
	all := must(st.ListLogs(ctx, store.LogFilter{}))(t)
	if len(all) != 6 {
		t.Fatalf("ListLogs = %+v", all)
	}
	for i, l := range all {
		if l.ID == 0 || (i > 0 && l.ID <= all[i-1].ID) {
			t.Fatalf("log IDs do not grow: %+v", all)
		}
	}
	if l := all[3]; l.AccountID != 2 || l.App != "hello" || l.Session != "s3" || l.Level != "info" || !sameTime(l.At, t0.Add(3*time.Second)) {
		t.Fatalf("ListLogs[3] = %+v", l)
	}
	for _, tc := range []struct {
		f    store.LogFilter
		want string
	}{
		{store.LogFilter{}, "one,two,three,four,five,six"},
		{store.LogFilter{AccountID: 1}, "one,two,three,five,six"},
		{store.LogFilter{AccountID: 1, App: "hello"}, "one,two,five,six"},
		{store.LogFilter{App: "hello"}, "one,two,four,five,six"},
		{store.LogFilter{Session: "s1"}, "one,two"},
		{store.LogFilter{AccountID: 2, Session: "s1"}, ""},
		{store.LogFilter{Since: t0.Add(2 * time.Second)}, "three,four,five,six"},
		{store.LogFilter{AccountID: 1, Since: t0.Add(time.Second), Limit: 2}, "two,three"},
		{store.LogFilter{AfterID: all[1].ID}, "three,four,five,six"},
		{store.LogFilter{AfterID: all[1].ID, Limit: 2}, "three,four"},
		{store.LogFilter{App: "hello", AfterID: all[4].ID}, "six"},
		{store.LogFilter{AfterID: all[5].ID}, ""},
		// Without AfterID or Since: the newest Limit lines, oldest first.
		{store.LogFilter{Limit: 2}, "five,six"},
		{store.LogFilter{AccountID: 1, App: "hello", Limit: 3}, "two,five,six"},
	} {
		if got := texts(tc.f); got != tc.want {
			t.Errorf("ListLogs(%+v) = %s, want %s", tc.f, got, tc.want)
		}
	}

	// Following: lines appended later come after the last ID seen.
	last := all[5].ID
	st.AppendLog(store.LogLine{AccountID: 1, App: "hello", Level: "warn", Text: "seven"})
	noErr(t, st.Sync(ctx))
	got := must(st.ListLogs(ctx, store.LogFilter{AfterID: last}))(t)
	if len(got) != 1 || got[0].Text != "seven" || got[0].Level != "warn" || got[0].At.IsZero() {
		t.Fatalf("ListLogs(after) = %+v", got)
	}
}

func testConcurrentWrites(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%d-%d", w, i%20)
				s := session(id, 1, 10, "busy", "running", t0.Add(time.Duration(i)*time.Millisecond))
				s.Transcript = []store.TranscriptEntry{{Dir: "in", Kind: "text", Text: fmt.Sprint(i), At: t0}}
				st.SaveSession(s)
				st.AppendLog(store.LogLine{AccountID: 1, App: "busy", Session: id, Text: fmt.Sprintf("%d/%d", w, i)})
			}
		}()
	}
	wg.Wait()
	noErr(t, st.Sync(ctx))
	if got := must(st.ListSessions(ctx, store.SessionFilter{App: "busy", Limit: 1000}))(t); len(got) != writers*20 {
		t.Fatalf("%d sessions, want %d", len(got), writers*20)
	}
	// The last save of each session wins.
	s := must(st.Session(ctx, "w3-19"))(t)
	if s.Transcript[0].Text != fmt.Sprint(each-1) {
		t.Fatalf("session w3-19 = %+v, want its last save", s)
	}
	if got := must(st.ListLogs(ctx, store.LogFilter{App: "busy", Limit: 10000}))(t); len(got) != writers*each {
		t.Fatalf("%d log lines, want %d", len(got), writers*each)
	}
}

func testMarkInterrupted(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	ended := session("done", 1, 10, "hello", "ended", t0)
	ended.EndedAt, ended.EndReason = t0.Add(time.Second), "completed"
	st.SaveSession(ended)
	st.SaveSession(session("run", 1, 10, "hello", "running", t0))
	st.SaveSession(session("wait", 1, 10, "hello", "waiting", t0)) // queued: MarkInterrupted sees it
	before := time.Now().Add(-time.Second)
	n, err := st.MarkInterrupted(ctx)
	noErr(t, err)
	if n != 2 {
		t.Fatalf("MarkInterrupted = %d, want 2", n)
	}
	for _, id := range []string{"run", "wait"} {
		s := must(st.Session(ctx, id))(t)
		if s.State != "ended" || s.EndReason != "server_restart" || s.EndedAt.Before(before) || s.EndedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("session %s after MarkInterrupted = %+v", id, s)
		}
	}
	sameSession(t, must(st.Session(ctx, "done"))(t), ended)
	if n, err := st.MarkInterrupted(ctx); err != nil || n != 0 {
		t.Fatalf("MarkInterrupted again = %d, %v", n, err)
	}
}

func testDeleteApp(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	acc := account(t, st, "dev")
	keep := app(t, st, acc.ID, "keep")
	a := app(t, st, acc.ID, "doomed") // the newest id: it is not reused
	_, _, _, err := st.PutVersion(ctx, acc.ID, "doomed", script(`-- v2`))
	noErr(t, err)
	noErr(t, st.MergeConfig(ctx, a.ID, map[string]string{"K": "v"}))
	noErr(t, st.KVSet(ctx, a.ID, "k", "v", 0))
	noErr(t, st.KVSet(ctx, keep.ID, "k", "kept", 0))
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "doomed", AccountID: acc.ID, AppID: a.ID})
	noErr(t, err)
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "xmpp", Address: "doomed@example.com", AccountID: acc.ID, AppID: a.ID, Credentials: []byte(`{"password":"p"}`)})
	noErr(t, err)
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "keep", AccountID: acc.ID, AppID: keep.ID})
	noErr(t, err)
	st.SaveSession(session("hist", acc.ID, a.ID, "doomed", "ended", t0))
	st.AppendLog(store.LogLine{AccountID: acc.ID, App: "doomed", Session: "hist", Text: "bye"})
	noErr(t, st.Sync(ctx))

	noErr(t, st.DeleteApp(ctx, a.ID))

	_, err = st.App(ctx, acc.ID, "doomed")
	wantErr(t, err, store.ErrNotFound, "App(deleted)")
	_, err = st.AppByID(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound, "AppByID(deleted)")
	_, err = st.Version(ctx, a.ID, 1)
	wantErr(t, err, store.ErrNotFound, "Version(deleted app)")
	_, err = st.Config(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound, "Config(deleted app)")
	if _, ok := must2(t)(st.KVGet(ctx, a.ID, "k")); ok {
		t.Fatal("kv of a deleted app found")
	}
	_, err = st.Address(ctx, "web", "doomed")
	wantErr(t, err, store.ErrNotFound, "Address(of deleted app)")
	_, err = st.Address(ctx, "xmpp", "doomed@example.com")
	wantErr(t, err, store.ErrNotFound, "Address(of deleted app)")
	wantErr(t, st.DeleteApp(ctx, a.ID), store.ErrNotFound, "DeleteApp(deleted)")

	// History stays; the other app is untouched.
	if s := must(st.Session(ctx, "hist"))(t); s.AppName != "doomed" {
		t.Fatalf("session of deleted app = %+v", s)
	}
	if l := must(st.ListLogs(ctx, store.LogFilter{App: "doomed"}))(t); len(l) != 1 {
		t.Fatalf("logs of deleted app = %+v", l)
	}
	if v, ok := must2(t)(st.KVGet(ctx, keep.ID, "k")); !ok || v != "kept" {
		t.Fatalf("kv of other app = %q %v", v, ok)
	}
	if _, err := st.Address(ctx, "web", "keep"); err != nil {
		t.Fatalf("address of other app: %v", err)
	}

	// The name and addresses are free again; the new app starts at version 1.
	a2, ver, created, err := st.PutVersion(ctx, acc.ID, "doomed", script(`-- reborn`))
	noErr(t, err)
	if !created || a2.ID == a.ID || ver.Version != 1 {
		t.Fatalf("PutVersion after delete = %+v %+v created=%v", a2, ver, created)
	}
	_, err = st.AddAddress(ctx, store.AddressRecord{Network: "web", Address: "doomed", AccountID: acc.ID, AppID: a2.ID})
	noErr(t, err)
}

func testRecordings(t *testing.T, st store.Store) {
	ctx := ctxOf(t)
	acc, _, err := st.CreateAccount(ctx, "rec", store.RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	wav := []byte("RIFF....WAVEfmt ")
	r := store.Recording{ID: "r1", AccountID: acc.ID, SessionID: "s1", AppName: "voicemail", Duration: 1500 * time.Millisecond, WAV: wav}
	if err := st.SaveRecording(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := st.Recording(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountID != acc.ID || got.SessionID != "s1" || got.AppName != "voicemail" || got.Duration != r.Duration || string(got.WAV) != string(wav) || got.CreatedAt.IsZero() {
		t.Fatalf("recording read back as %+v", got)
	}
	if err := st.SaveRecording(ctx, r); err == nil {
		t.Fatal("a second recording with the same id was stored")
	}
	if _, err := st.Recording(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown recording: %v", err)
	}
	if err := st.SaveRecording(ctx, store.Recording{ID: "r2", AccountID: 999999, WAV: wav}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("recording of an unknown account: %v", err)
	}
}
