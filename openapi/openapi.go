// Package openapi owns the OpenAPI 3.1 description of roomstate's HTTP API,
// openapi.json, built into the binary and served at GET
// /api/v1/openapi.json. The document says what docs/API.md says, in a form
// tools read: every endpoint with its parameters, bodies, answers (fixed
// shapes closed with additionalProperties: false, counts per flag as maps)
// and errors, the bearer token, and examples in Chinese and English. Each
// operation names the server's route that answers it (x-route), and the
// package's tests hold the document to the router and to real answers: see
// openapi_test.go for how to document a new endpoint.
//
// It knows nothing of how requests are routed or answered.
package openapi

import _ "embed"

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI document as JSON. The bytes are shared:
// callers must not change them.
func Document() []byte { return document }
