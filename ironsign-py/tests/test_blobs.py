"""Blobs from Python: sign_blob / attest_blob and Verifier.verify_blob(_attestation), against the
real cosign both ways, and the checks failing closed."""

from __future__ import annotations

import base64
import hashlib
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
    signer: ironsign.Signer, trust: ironsign.TrustRoot, pki: Path, tsa_url: str, tmp_path: Path
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
    verifier = ironsign.Verifier(trust)
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


def rejection_code(error: pytest.ExceptionInfo[ironsign.NoMatchingSignatureError]) -> str:
    [rejection] = error.value.rejections
    return str(rejection["code"])


def test_blob_checks_fail_closed_with_typed_errors(
    signer: ironsign.Signer, trust: ironsign.TrustRoot, pki: Path
) -> None:
    """The attacker's and the hurried user's inputs: each refused with the code naming why."""
    verifier = ironsign.Verifier(trust)
    policy = ironsign.Policy(identity="signer@example.com")
    signed = ironsign.sign_blob(BLOB, signer)
    # The signature of another blob, and a Sigstore bundle presented for another blob.
    other = ironsign.sign_blob(b"other bytes\n", signer)
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob(BLOB, policy, signature=other.signature_base64.encode(),
                             certificate=signed.certificate_output.encode() if signed.certificate_output else None)  # fmt: skip
    assert rejection_code(e) == "BAD_SIGNATURE"
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob(b"other bytes\n", policy, bundle=signed.sigstore_bundle())
    assert rejection_code(e) == "DIGEST_MISMATCH"
    # Another identity than the one asked for.
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob(BLOB, ironsign.Policy(identity="else@example.com"), bundle=signed.legacy_bundle())
    assert rejection_code(e) == "IDENTITY_MISMATCH"
    # A certificate from another root.
    attacker = ironsign.Signer.from_key_file(
        pki / "attacker-leaf.key", certificate=pki / "attacker-leaf.pem", chain=pki / "attacker-chain.pem"
    )
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob(BLOB, policy, bundle=ironsign.sign_blob(BLOB, attacker).sigstore_bundle())
    assert rejection_code(e) == "CERT_UNTRUSTED_CHAIN"
    # A bundle whose certificate is not the one that signed: another leaf of the same CA.
    legacy = json.loads(signed.legacy_bundle())
    legacy["cert"] = base64.b64encode((pki / "leaf-otherid.pem").read_bytes()).decode()
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob(BLOB, ironsign.Policy(identity_regexp=".*"), bundle=json.dumps(legacy).encode())
    assert rejection_code(e) == "BAD_SIGNATURE"
    # A bundle and a loose signature: one would go unread, so both are refused; and no evidence.
    with pytest.raises(ironsign.InputError) as i:
        verifier.verify_blob(BLOB, policy, bundle=signed.legacy_bundle(), signature=signed.signature_base64.encode())
    assert i.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ironsign.InputError):
        verifier.verify_blob(BLOB, policy)


def test_blob_attestation_binds_blob_and_type(signer: ironsign.Signer, trust: ironsign.TrustRoot) -> None:
    verifier = ironsign.Verifier(trust)
    policy = ironsign.Policy(identity="signer@example.com")
    digest = "sha256:" + hashlib.sha256(BLOB).hexdigest()
    attested = ironsign.attest_blob("dist/app.tar.gz", signer, predicate=b'{"a": 1}', digest=digest,
                                    predicate_type="https://example.com/p/v1")  # fmt: skip
    bundle = attested.sigstore_bundle()
    result = verifier.verify_blob_attestation(policy, blob=BLOB, bundle=bundle, predicate_type="https://example.com/p/v1")
    assert result.digest == digest and result.format == "sigstore_bundle"
    assert result.statement["subject"][0]["name"] == "app.tar.gz"
    assert "predicate_type" in result.checks and "subject_binding" in result.checks
    same = verifier.verify_blob_attestation(policy, digest=digest, bundle=bundle, predicate_type="https://example.com/p/v1")
    assert same.digest == digest
    # Another predicate type; another blob; the blob unchecked only when asked.
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob_attestation(policy, blob=BLOB, bundle=bundle, predicate_type="custom")
    assert rejection_code(e) == "PREDICATE_TYPE_MISMATCH"
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob_attestation(policy, blob=b"x", bundle=bundle, predicate_type="https://example.com/p/v1")
    assert rejection_code(e) == "SUBJECT_MISMATCH"
    unchecked = verifier.verify_blob_attestation(policy, bundle=bundle, predicate_type="https://example.com/p/v1",
                                                 check_claims=False)  # fmt: skip
    assert unchecked.digest is None
    # A blob signature is not an attestation.
    with pytest.raises(ironsign.NoMatchingSignatureError) as e:
        verifier.verify_blob_attestation(policy, blob=BLOB, bundle=ironsign.sign_blob(BLOB, signer).sigstore_bundle())
    assert rejection_code(e) == "PAYLOAD_TYPE_MISMATCH"
    # Arguments a hurried caller gets wrong: typed errors, never a guess.
    with pytest.raises(ironsign.InputError):
        verifier.verify_blob_attestation(policy, bundle=bundle)
    with pytest.raises(ironsign.InputError):
        ironsign.attest_blob("a", signer, predicate=b"{}", blob=BLOB, digest=digest)
    with pytest.raises(ironsign.InputError):
        ironsign.attest_blob("a", signer, predicate=b"{}", blob=BLOB, format="v3")  # type: ignore[arg-type]
    with pytest.raises(ironsign.PredicateError):
        ironsign.attest_blob("a", signer, predicate=b"not json", blob=BLOB, predicate_type="https://example.com/p/v1")
