// Package channeltest holds recorder conversations and the transcript
// runner for app golden files (apps/testdata-format.md): a scripted text
// Conversation and a scripted voice Call that feed the person's lines to a
// Handler and record everything the app sends, and Play, which runs a
// Handler over a Transcript and reports a diff of the whole conversation.
package channeltest
