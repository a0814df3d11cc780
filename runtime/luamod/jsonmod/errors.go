package jsonmod

import (
	"errors"
	"fmt"
)

// Errors of Encode and Decode, wrapped with details; test with errors.Is.
var (
	ErrCycle       = errors.New("cannot encode recursively nested tables")
	ErrSparseArray = errors.New("cannot encode sparse array")
	ErrMixedKeys   = errors.New("cannot encode mixed or invalid key types")
	ErrType        = errors.New("cannot encode value") // functions, userdata, NaN, ...
	ErrTooDeep     = errors.New("nesting too deep")
	ErrTooLarge    = errors.New("too large")
)

// SyntaxError is Decode's error for input that is not one JSON value.
type SyntaxError struct {
	Msg    string // what is wrong, e.g. "invalid character 'x' in array"
	Offset int    // byte offset in the input where it was found
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("json: %s at offset %d", e.Msg, e.Offset)
}

// chargeError carries an error of the charge function out of Decode: the
// session is being stopped, so the module raises it instead of returning it.
type chargeError struct{ err error }

func (e *chargeError) Error() string { return e.err.Error() }
func (e *chargeError) Unwrap() error { return e.err }

// detailError is a sentinel error with the details of one occurrence.
type detailError struct {
	msg string
	err error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.err }

func detail(sentinel error, format string, args ...any) error {
	return &detailError{msg: "json: " + fmt.Sprintf(format, args...), err: sentinel}
}
