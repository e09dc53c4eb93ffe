#!/usr/bin/env python3
"""A pipeline job: sign the images a build produced, attest their vulnerability scan, attach
(and sign) their SBOM, then verify signature and attestation as a deployment would, and print
what was proven. It calls ironsign in-process, with Python types and Python errors.

    pipeline.py --key leaf.key --certificate leaf.pem --chain chain.pem \
        --root root.pem --identity signer@example.com \
        --annotation build=123 \
        --scan trivy-report.json --sbom sbom.spdx.json \
        registry.example/team/app@sha256:... [...]

--scan takes a Grype, Trivy, Anchore Enterprise or twistcli JSON report (the scanner is
recognised from the content) and attests it as cosign's vuln predicate; --policy adds Rego
policies every verified statement must satisfy. --sbom attaches an SPDX, CycloneDX or Syft SBOM
(its format detected) and signs it.

The key password, when the key is encrypted, comes from IRONSIGN_PASSWORD. Exit status: 0 when
every image was signed and verified, 1 when an image is not trusted, 2 on any other error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import ironsign


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="image references (REGISTRY/REPO:TAG or @DIGEST)")
    p.add_argument("--key", required=True, help="private key file")
    p.add_argument("--certificate", required=True, help="code-signing certificate of the key")
    p.add_argument("--chain", required=True, help="its chain: intermediates, then the root")
    p.add_argument("--root", action="append", required=True, help="root CA file(s) to verify against")
    p.add_argument("--intermediate", action="append", default=[], help="intermediate CA file(s)")
    p.add_argument("--identity", required=True, help="SAN the signing certificate must carry")
    p.add_argument("--annotation", action="append", default=[], help="key=value signed into the payload")
    p.add_argument("--insecure-http", action="append", default=[], help="HOST:PORT reached over plain HTTP")
    p.add_argument("--scan", help="vulnerability report to attest (Grype, Trivy, Anchore, twistcli JSON)")
    p.add_argument("--policy", action="append", default=[], help="Rego policy file(s) for the attestation")
    p.add_argument("--sbom", help="SBOM file to attach and sign (SPDX, CycloneDX or Syft)")
    p.add_argument("--json", action="store_true", help="print the verification results as JSON")
    return p.parse_args(argv)


def sign_images(reg: ironsign.RegistryClient, signer: ironsign.Signer, images: Sequence[str],
                annotations: dict[str, str]) -> dict[str, str]:
    """Signs each image; returns the digest signed for each reference."""
    signed = {}
    for image in images:
        report = reg.sign(image, signer, annotations=annotations)
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        entry = report.signatures[0]
        print(f"{'signed' if entry.added else 'already signed'}: {image} ({entry.digest})")
        signed[image] = entry.digest
    return signed


def verify_images(reg: ironsign.RegistryClient, trust: ironsign.TrustRoot, policy: ironsign.Policy,
                  signed: dict[str, str]) -> list[ironsign.VerificationResult]:
    """Verifies each image as the deployment gate would, and that a tag still names what was signed."""
    results = []
    for image, digest in signed.items():
        result = reg.verify(image, trust, policy)
        if result.digest != digest:
            raise SystemExit(f"{image} moved from {digest} to {result.digest} after signing")
        results.append(result)
    return results


def attest_scans(reg: ironsign.RegistryClient, signer: ironsign.Signer, signed: dict[str, str],
                 report: str) -> None:
    """Attests the scan report for each signed digest (replacing an earlier scan of it)."""
    for image, digest in signed.items():
        reference = f"{repository_of(image)}@{digest}"
        attested = reg.attest(reference, signer, predicate_type="vuln", predicate=report, replace=True)
        print(f"attested: {image} ({attested.predicate_type})")


def attach_sboms(reg: ironsign.RegistryClient, signer: ironsign.Signer, signed: dict[str, str], sbom: str) -> None:
    """Attaches the SBOM to each signed digest and signs it (cosign's --attachment sbom)."""
    for image, digest in signed.items():
        reference = f"{repository_of(image)}@{digest}"
        attached = reg.attach_sbom(reference, sbom)
        reg.sign(reference, signer, attachment="sbom")
        print(f"sbom: {image} ({attached.media_type}, {attached.size} bytes, signed)")


def repository_of(image: str) -> str:
    """REGISTRY/REPO of REGISTRY/REPO[:TAG][@DIGEST] (a registry port is not a tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def verify_attestations(reg: ironsign.RegistryClient, trust: ironsign.TrustRoot, policy: ironsign.Policy,
                        signed: dict[str, str], rego: Sequence[str]) -> list[ironsign.AttestationResult]:
    """Verifies each image's vuln attestation as the deployment gate would."""
    return [reg.verify_attestation(f"{repository_of(image)}@{digest}", trust, policy, predicate_type="vuln",
                                   rego_policies=[ironsign.RegoPolicy.from_file(p) for p in rego])
            for image, digest in signed.items()]


def print_attestations(results: Sequence[ironsign.AttestationResult]) -> None:
    for result in results:
        print(f"attestation verified: {result.repository}@{result.digest}")
        for att in result.attestations:
            scanner = att.predicate["scanner"]
            print(f"  {att.predicate_type} by {att.matched_identity}: scanner {scanner['uri']}, "
                  f"{count_vulnerabilities(scanner['result'])} vulnerabilities, checks: {', '.join(att.checks)}")


def count_vulnerabilities(report: dict[str, Any]) -> int | str:
    """Findings in a Trivy (Results[].Vulnerabilities) or Grype (matches) report."""
    if "Results" in report:
        return sum(len(r.get("Vulnerabilities") or []) for r in report["Results"] or [])
    if "matches" in report:
        return len(report["matches"])
    return "?"


def print_results(results: Sequence[ironsign.VerificationResult], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return
    for result in results:
        print(f"verified: {result.repository}@{result.digest}")
        for sig in result.signatures:
            cert = sig.certificate
            if cert is not None:
                print(f"  signed by {cert.subject} as {sig.matched_identity}, certificate valid until "
                      f"{cert.not_after:%Y-%m-%d}")
            print(f"  annotations: {sig.payload.optional}")
            print(f"  checks: {', '.join(sig.checks)}")


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    annotations = dict(a.split("=", 1) for a in args.annotation)
    try:
        reg = ironsign.RegistryClient(insecure_http=args.insecure_http)
        signer = ironsign.Signer.from_key_file(args.key, certificate=args.certificate, chain=args.chain,
                                               password=os.environ.get("IRONSIGN_PASSWORD"))
        signed = sign_images(reg, signer, args.images, annotations)
        if args.scan:
            attest_scans(reg, signer, signed, args.scan)
        if args.sbom:
            attach_sboms(reg, signer, signed, args.sbom)

        trust = ironsign.TrustRoot.from_pem_files(roots=args.root, intermediates=args.intermediate)
        policy = ironsign.Policy(identity=args.identity, annotations=annotations)
        print_results(verify_images(reg, trust, policy, signed), args.json)
        if args.scan:
            # Attestations carry no payload annotations: the identity policy alone.
            print_attestations(verify_attestations(reg, trust, ironsign.Policy(identity=args.identity), signed,
                                                   args.policy))
    except ironsign.VerificationError as e:
        print(f"NOT TRUSTED ({e.code}): {e}", file=sys.stderr)
        return 1
    except ironsign.IronsignError as e:
        print(f"error ({e.code}): {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
