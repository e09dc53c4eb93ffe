"""Blobs from Python: sign_blob / attest_blob and Verifier.verify_blob(_attestation), against the
real cosign both ways, and the checks failing closed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import ironsign
from conftest import COSIGN

BLOB = b"release bytes\n"


def cosign(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COSIGN), *map(str, args)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COSIGN_PASSWORD": "pw"},
    )  # fmt: skip


def test_cosign_verifies_a_python_blob_signature_with_certificate_and_timestamp(
    signer: ironsign.Signer, pki: Path, tsa_url: str, tmp_path: Path
) -> None:
    blob = tmp_path / "app.tar.gz"
    blob.write_bytes(BLOB)
    signed = ironsign.sign_blob(BLOB, signer.with_timestamp_server(f"{tsa_url}/ecdsa"))
    (tmp_path / "app.sig").write_text(signed.signature_base64)
    assert signed.certificate_output is not None and signed.timestamp is not None
    (tmp_path / "app.crt").write_text(signed.certificate_output)
    (tmp_path / "app.ts").write_text(signed.timestamp)
    out = cosign(
        "verify-blob", "--signature", tmp_path / "app.sig", "--certificate", tmp_path / "app.crt",
        "--certificate-chain", pki / "chain.pem", "--certificate-identity", "signer@example.com",
        "--certificate-oidc-issuer-regexp", ".*", "--insecure-ignore-tlog", "--insecure-ignore-sct",
        "--rfc3161-timestamp", tmp_path / "app.ts", "--timestamp-certificate-chain", pki / "tsa-ecdsa-chain.pem",
        "--use-signed-timestamps", blob,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # The same signature through both bundle formats, verified here.
    verifier = ironsign.Verifier(ironsign.TrustRoot.from_pem_files(roots=[pki / "root.pem"]))
    policy = ironsign.Policy(identity="signer@example.com")
    for bundle, form in [(signed.legacy_bundle(), "legacy_bundle"), (signed.sigstore_bundle(), "sigstore_bundle")]:
        result = verifier.verify_blob(BLOB, policy, bundle=bundle)
        assert result.format == form
        assert result.matched_identity == "signer@example.com"
        assert json.loads(result.to_json())["format"] == form
    with pytest.raises(ironsign.VerificationError) as e:
        verifier.verify_blob(b"tampered", policy, bundle=signed.sigstore_bundle())
    assert e.value.code == "NO_MATCHING_SIGNATURE"


def test_python_verifies_cosign_blob_signatures_and_attestations(tmp_path: Path) -> None:
    private_pem, public_pem = ironsign.generate_key_pair("pw")
    (tmp_path / "cosign.key").write_bytes(private_pem)
    blob = tmp_path / "chart.tgz"
    blob.write_bytes(BLOB)
    out = cosign("sign-blob", "--key", tmp_path / "cosign.key", "--tlog-upload=false", blob)
    assert out.returncode == 0, out.stderr
    verifier = ironsign.Verifier(ironsign.TrustRoot.from_public_key_pem(public_pem))
    key_only = ironsign.Policy()
    result = verifier.verify_blob(BLOB, key_only, signature=out.stdout.encode())
    assert result.format == "detached" and "signature" in result.checks
    (tmp_path / "p.json").write_text('{"a": 1}')
    out = cosign("attest-blob", "--key", tmp_path / "cosign.key", "--predicate", tmp_path / "p.json",
                 "--tlog-upload=false", blob)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = verifier.verify_blob_attestation(key_only, blob=BLOB, signature=out.stdout.encode())
    assert result.statement["subject"][0]["name"] == "chart.tgz"
    with pytest.raises(ironsign.VerificationError):
        verifier.verify_blob_attestation(key_only, blob=b"another blob", signature=out.stdout.encode())
    # And cosign verifies a Python attestation.
    signer = ironsign.Signer.from_key_pem(private_pem, password="pw")
    attested = ironsign.attest_blob("chart.tgz", signer, predicate=b'{"a": 1}', blob=BLOB, format="detached")
    assert attested.envelope is not None
    (tmp_path / "ours.json").write_bytes(attested.envelope)
    (tmp_path / "cosign.pub").write_bytes(public_pem)
    out = cosign("verify-blob-attestation", "--key", tmp_path / "cosign.pub", "--signature", tmp_path / "ours.json",
                 "--type", "custom", "--insecure-ignore-tlog", blob)  # fmt: skip
    assert out.returncode == 0, out.stderr
