package store

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize {
		t.Fatalf("key is %d bytes", len(key))
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreateKey(dir)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("second load = %x, %v; want %x", again, err, key)
	}
	b, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if strings.TrimSpace(string(b)) != hex.EncodeToString(key) {
		t.Fatalf("key file holds %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".secret.key-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	dir := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKey(dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatalf("concurrent starts got different keys: %x vs %x", k, keys[0])
		}
	}
}

func TestLoadOrCreateKeyBadFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateKey(dir)
	if err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("LoadOrCreateKey(bad file) = %v", err)
	}
	raw := bytes.Repeat([]byte{7}, KeySize)
	if err := os.WriteFile(filepath.Join(dir, KeyFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadOrCreateKey(dir); err != nil || !bytes.Equal(k, raw) {
		t.Fatalf("LoadOrCreateKey(raw file) = %x, %v", k, err)
	}
}

func TestNewAPIKey(t *testing.T) {
	re := regexp.MustCompile(`^chorus_[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		k := NewAPIKey()
		if !re.MatchString(k) {
			t.Fatalf("NewAPIKey = %q", k)
		}
		if seen[k] {
			t.Fatal("NewAPIKey repeated a key")
		}
		seen[k] = true
	}
}

func TestHashKey(t *testing.T) {
	h := HashKey("chorus_abc")
	if len(h) != 64 || h != HashKey("chorus_abc") || h == HashKey("chorus_abd") {
		t.Fatalf("HashKey = %q", h)
	}
	if strings.Contains(h, "abc") {
		t.Fatal("hash shows the key")
	}
}
