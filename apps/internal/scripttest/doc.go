// Package scripttest plays app transcripts (apps/testdata-format.md)
// against a small stand-in of the Lua API of spec/lua-api.md, so that the
// sample apps' golden files are checked before the real engine and its
// runner (channels/channeltest) exist, and keep agreeing with the spec.
//
// It is not the runtime: no sandbox, no limits, no real channels. Its
// verbs follow the spec's text literally (ask prompts on every attempt,
// calls onBadChoice/onTimeout on every failed attempt, never consumes
// initialText; lookup returns the fields after the key), so a difference
// between it and the engine on a transcript is worth a look at both.
package scripttest
