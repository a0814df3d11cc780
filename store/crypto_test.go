package store

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{1}, KeySize)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	msg, ad := []byte(`{"password":"pw"}`), []byte("address\x00xmpp\x00a@b")
	sealed := s.Seal(msg, ad)
	if bytes.Contains(sealed, msg) {
		t.Fatal("sealed value shows the plaintext")
	}
	if again := s.Seal(msg, ad); bytes.Equal(again, sealed) {
		t.Fatal("two seals are identical: the nonce is not fresh")
	}
	got, err := s.Open(sealed, ad)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if got, err := s.Open(s.Seal(nil, ad), ad); err != nil || len(got) != 0 {
		t.Fatalf("Open(empty) = %q, %v", got, err)
	}

	other, _ := NewSealer(bytes.Repeat([]byte{2}, KeySize))
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, try := range map[string]func() ([]byte, error){
		"wrong key": func() ([]byte, error) { return other.Open(sealed, ad) },
		"other row": func() ([]byte, error) { return s.Open(sealed, []byte("address\x00xmpp\x00c@d")) },
		"tampered":  func() ([]byte, error) { return s.Open(tampered, ad) },
		"short":     func() ([]byte, error) { return s.Open(sealed[:10], ad) },
		"plain":     func() ([]byte, error) { return s.Open(msg, ad) },
	} {
		if _, err := try(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
	if KeyFingerprint(key) != s.Fingerprint() || KeyFingerprint(key) == other.Fingerprint() {
		t.Fatal("fingerprints do not tell keys apart")
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("NewSealer(short key) succeeded")
	}
}

func FuzzSealer(f *testing.F) {
	s, _ := NewSealer(bytes.Repeat([]byte{3}, KeySize))
	f.Add([]byte("secret"), []byte("ad"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, msg, ad []byte) {
		got, err := s.Open(s.Seal(msg, ad), ad)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip of %q: %q, %v", msg, got, err)
		}
		if _, err := s.Open(msg, ad); err == nil && len(msg) < 1+12+16 {
			t.Fatalf("Open accepted %q", msg)
		}
	})
}
