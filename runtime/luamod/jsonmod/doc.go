// Package jsonmod is the json module of Chorus scripts:
//
//	json.encode(v) -> string | nil, err
//	json.decode(s) -> value  | nil, err
//	json.null
//
// Open sets env.json on a script's environment. Both directions are bounded
// (Limits): decode refuses input, and encode output, larger than MaxSize
// (8 MiB by default) and nesting deeper than MaxDepth (200). What is handed
// back to the script is charged to the session (luamod.Host.Charge): the
// encoded string's length, and for decode an estimate of the tables and
// strings built, charged as they are built so that a small document that
// expands into many tables is stopped by the session's memory budget.
//
// Mapping, as github.com/layeh/gopher-json does it:
//   - an empty table encodes as [];
//   - a table whose keys are exactly 1..n encodes as an array; other
//     integer keys are a sparse array (an error); string keys make an
//     object (members sorted by key); mixed or other keys are an error;
//   - functions, coroutines and userdata other than json.null are an
//     error, and so are NaN and the infinities;
//   - a table reached again while it is being encoded (a cycle) is an
//     error; one table referenced twice, not inside itself, is encoded
//     twice;
//   - JSON null decodes to nil: a member whose value is null is absent, an
//     array element that is null leaves a hole at its index; json.null
//     encodes as null.
//
// Strings are Lua byte strings: the encoder writes invalid UTF-8 as U+FFFD
// and the decoder replaces invalid UTF-8 and lone surrogates the same way,
// as encoding/json does. Numbers are float64.
//
// A runtime failure (bad JSON, a value that cannot be encoded, a size or
// depth limit) returns nil and an error string to the script; only a
// missing argument raises.
package jsonmod
