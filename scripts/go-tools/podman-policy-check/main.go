// podman-policy-check evaluates a containers/image signature policy (policy.json plus a
// registries.d directory) against one image, exactly as podman, skopeo and cri-o do before
// pulling: it is the containers/image library itself, built from Go modules, because Debian's
// skopeo is too old for `sigstoreSigned` with `pki` (containers/image >= 5.35).
//
// Usage: podman-policy-check --policy policy.json --registries.d DIR REGISTRY/REPO@sha256:DIGEST
// Exit 0 when the policy allows the image, 1 when it rejects it, 2 on a usage or setup error.
// Registry TLS trusts the system roots, so SSL_CERT_FILE names a private registry CA.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
)

func main() {
	policyPath := flag.String("policy", "", "policy.json to evaluate")
	registriesDir := flag.String("registries.d", "", "registries.d directory (use-sigstore-attachments)")
	flag.Parse()
	if *policyPath == "" || *registriesDir == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: podman-policy-check --policy FILE --registries.d DIR IMAGE")
		os.Exit(2)
	}
	allowed, err := check(*policyPath, *registriesDir, flag.Arg(0))
	if allowed {
		fmt.Println("allowed")
		os.Exit(0)
	}
	fmt.Printf("rejected: %v\n", err)
	os.Exit(1)
}

func check(policyPath, registriesDir, reference string) (bool, error) {
	ctx := context.Background()
	policy, err := signature.NewPolicyFromFile(policyPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid policy: %v\n", err)
		os.Exit(2)
	}
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid policy: %v\n", err)
		os.Exit(2)
	}
	defer func() { _ = pc.Destroy() }()
	ref, err := docker.ParseReference("//" + reference)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid image reference: %v\n", err)
		os.Exit(2)
	}
	sys := &types.SystemContext{RegistriesDirPath: registriesDir}
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return false, fmt.Errorf("reading the image: %w", err)
	}
	defer func() { _ = src.Close() }()
	return pc.IsRunningImageAllowed(ctx, image.UnparsedInstance(src, nil))
}
