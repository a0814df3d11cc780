// Package api is the REST API of spec/rest-api.md, served with chi, with its
// OpenAPI document (openapi.json, embedded and served at
// /v1/openapi.json; a test checks it against the routes).
//
// Every resource is a type with Routes(). Authentication is a Bearer API
// key; the account it names travels in the request context under a typed
// key. Another account's resources answer 404, never 403, so that their
// existence is not revealed.
package api
