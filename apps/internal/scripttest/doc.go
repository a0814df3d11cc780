// Package scripttest plays app transcripts (apps/testdata-format.md)
// against a small stand-in of the Lua API of spec/lua-api.md, so that
// `go test ./apps/...` checks the sample apps' golden files on its own. The
// real engine plays the same files through channels/channeltest
// (runtime/engine's TestSampleTranscripts).
//
// It is not the runtime: no sandbox, no limits, no real channels. Its
// verbs follow the spec's text literally (ask prompts on every attempt,
// calls onBadChoice/onTimeout on every failed attempt, never consumes
// initialText) and lookup returns the whole row, key first, as
// runtime/engine does. A difference between it and the engine on a
// transcript is worth a look at both.
package scripttest
