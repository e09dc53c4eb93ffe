//go:build tools

// Package tools pins the policy-tester command for `go build`.
package tools

import _ "github.com/sigstore/policy-controller/cmd/tester"
