#!/usr/bin/env python3
"""A pipeline job: sign the images a build produced, verify them as a deployment would, and
print what was proven. It calls ironsign in-process, with Python types and Python errors.

    pipeline.py --key leaf.key --certificate leaf.pem --chain chain.pem \
        --root root.pem --identity signer@example.com \
        --annotation build=123 registry.example/team/app@sha256:... [...]

The key password, when the key is encrypted, comes from IRONSIGN_PASSWORD. Exit status: 0 when
every image was signed and verified, 1 when an image is not trusted, 2 on any other error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

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

        trust = ironsign.TrustRoot.from_pem_files(roots=args.root, intermediates=args.intermediate)
        policy = ironsign.Policy(identity=args.identity, annotations=annotations)
        print_results(verify_images(reg, trust, policy, signed), args.json)
    except ironsign.VerificationError as e:
        print(f"NOT TRUSTED ({e.code}): {e}", file=sys.stderr)
        return 1
    except ironsign.IronsignError as e:
        print(f"error ({e.code}): {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
