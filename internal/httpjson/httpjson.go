// Package httpjson writes JSON responses and the error body every Chorus
// endpoint uses: {"error": "for people", "code": "for programs"}.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Line and File point at a compile error (422 on upload).
	Line int    `json:"line,omitempty"`
	File string `json:"file,omitempty"`
}

// Write sends v as JSON with status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Fail sends an Error.
func Fail(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, Error{Error: msg, Code: code})
}
