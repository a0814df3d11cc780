package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length of the credentials key in bytes (AES-256).
const KeySize = 32

// ErrDecrypt is wrapped by errors about stored secrets (address credentials,
// app configuration) that cannot be decrypted with the key in use: almost
// always because the key is not the one they were encrypted with.
var ErrDecrypt = errors.New("cannot decrypt with this credentials key")

// sealVersion is the first byte of every sealed value: the format is
// version | 12-byte nonce | AES-256-GCM ciphertext and tag.
const sealVersion = 1

// Sealer encrypts and authenticates small secrets with AES-256-GCM. Each
// sealed value carries a fresh random nonce. The associated data passed to
// Seal and Open binds a value to where it is stored (for example the address
// it belongs to), so that a ciphertext copied to another row does not open.
// A Sealer is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	fp   string
}

// NewSealer returns a Sealer for a KeySize-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store: credentials key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: credentials key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: credentials key: %w", err)
	}
	return &Sealer{aead: aead, fp: KeyFingerprint(key)}, nil
}

// Fingerprint returns KeyFingerprint of the Sealer's key.
func (s *Sealer) Fingerprint() string { return s.fp }

// Seal encrypts plaintext bound to ad.
func (s *Sealer) Seal(plaintext, ad []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("store: no randomness: " + err.Error()) // crypto/rand does not fail
	}
	return s.aead.Seal(out, out[1:1+ns], plaintext, ad)
}

// Open decrypts a value made by Seal with the same ad. A wrong key, a value
// moved to another row or a damaged value yields an error wrapping
// ErrDecrypt.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: not a sealed value", ErrDecrypt)
	}
	out, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}

// KeyFingerprint identifies a key without revealing it (a truncated HMAC of
// a constant), so that a store can tell at start whether it was given the key
// its secrets were encrypted with.
func KeyFingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("chorus credentials key fingerprint v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
