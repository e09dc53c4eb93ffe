//go:build tools

// Package tools pins Kyverno's CLI for `go build`: its `apply` command runs Kyverno's engine
// (pkg/engine: the verifyImages attestor-to-options mapping of pkg/engine/internal/imageverifier.go
// and the ClusterPolicy cosign verifier of pkg/image/verifiers/cpol/cosign) and its
// ImageValidatingPolicy engine (pkg/cel/policies/ivpol) against a real registry with --registry.
package tools

import _ "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"
