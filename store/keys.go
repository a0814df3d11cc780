package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the name of the credentials key file in the data directory.
const KeyFile = "secret.key"

// APIKeyPrefix starts every key made by NewAPIKey.
const APIKeyPrefix = "chorus_"

// LoadOrCreateKey returns the credentials key kept in <dataDir>/secret.key,
// creating the directory (0700) and the file (0600, 64 hex digits) with a new
// random key if the file does not exist. The file is created atomically: two
// processes starting together end up with the same key.
//
// Losing this file makes every stored credential and app configuration value
// unreadable; back it up with the database.
func LoadOrCreateKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, KeyFile)
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: new credentials key: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".secret.key-*")
	if err != nil {
		return nil, fmt.Errorf("store: create credentials key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store: create credentials key: %w", err)
	}
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: write credentials key: %w", err)
	}
	// Link fails if another process created the file meanwhile: use theirs.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path)
		}
		return nil, fmt.Errorf("store: create credentials key %s: %w", path, err)
	}
	if d, err := os.Open(dataDir); err == nil {
		d.Sync()
		d.Close()
	}
	return key, nil
}

func readKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("store: read credentials key: %w", err)
	}
	if len(b) == KeySize {
		return b, nil // raw bytes
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("store: credentials key %s: want %d hex digits (or %d raw bytes); restore the original file from a backup", path, 2*KeySize, KeySize)
	}
	return key, nil
}

// NewAPIKey returns a new random API key: "chorus_" and 32 random bytes in
// unpadded base64url.
func NewAPIKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("store: no randomness: " + err.Error()) // crypto/rand does not fail
	}
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashKey returns what is stored of an API key: its sha256 in hex. Keys are
// long random strings, so a plain hash is enough.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}
