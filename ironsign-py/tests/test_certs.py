"""Certificate tooling: inspect, check, renewal and CSRs (checked with openssl)."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest

import ironsign


def test_inspect(pki: Path) -> None:
    report = ironsign.inspect_certificate(pki / "leaf.pem")
    assert isinstance(report, ironsign.InspectionReport)
    [leaf] = report.certificates
    assert leaf.role == "leaf" and leaf.key == "ECDSA P-256"
    assert leaf.signature_algorithm == "ecdsa-with-SHA256"
    assert 300 < leaf.days_to_expiry < 400
    assert leaf.subject.startswith("CN=Ironsign Test Signer")
    assert leaf.summary.emails == ["signer@example.com"]
    assert report.to_dict()["certificates"][0]["role"] == "leaf"
    # A chain, from a file, PEM bytes and PEM text alike.
    chain = (pki / "leaf.pem").read_bytes() + (pki / "chain.pem").read_bytes()
    for arg in (chain, chain.decode()):
        full = ironsign.inspect_certificate(arg)
        assert [c.role for c in full.certificates] == ["leaf", "intermediate", "root"]
        assert full.chain_order_ok is True
    reversed_chain = ironsign.inspect_certificate((pki / "chain.pem").read_bytes() + (pki / "leaf.pem").read_bytes())
    assert reversed_chain.chain_order_ok is False
    nosan = ironsign.inspect_certificate(str(pki / "leaf-nosan.pem"))
    assert "NO_SAN" in [w.code for w in nosan.warnings]
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.inspect_certificate(b"garbage")
    assert info.value.code == "CERT_PARSE"
    with pytest.raises(ironsign.InputError):
        ironsign.inspect_certificate(pki / "missing.pem")


def test_check(pki: Path, signer: ironsign.Signer) -> None:
    ok = ironsign.check_certificate(pki / "leaf.pem", pki / "chain.pem", key=pki / "leaf.key")
    assert isinstance(ok, ironsign.CheckReport)
    assert ok.ok and ok.findings == [] and ok.codes == []
    assert 300 < ok.days_to_first_expiry < 400
    assert ironsign.check_certificate(pki / "leaf.pem", pki / "chain.pem", key=signer).ok
    assert ironsign.check_certificate(pki / "leaf.pem", pki / "chain.pem", key=(pki / "leaf.pub").read_bytes()).ok
    expiring = ironsign.check_certificate(pki / "leaf.pem", pki / "chain.pem", warn_days=400)
    assert "EXPIRING" in expiring.codes
    finding = expiring.findings[0]
    assert finding.severity == "warning" and finding.code == "EXPIRING"
    expired = ironsign.check_certificate(pki / "leaf-expired.pem", pki / "chain.pem")
    assert expired.codes == ["EXPIRED"] and expired.findings[0].severity == "error"
    mismatch = ironsign.check_certificate(pki / "leaf.pem", pki / "chain.pem", key=pki / "leaf-p384.key")
    assert mismatch.codes == ["KEY_MISMATCH"]
    broken = ironsign.check_certificate(pki / "leaf.pem", pki / "other-chain.pem")
    assert broken.codes == ["BROKEN_CHAIN"]
    assert broken.to_dict()["findings"][0]["code"] == "BROKEN_CHAIN"


def test_verify_renewal(pki: Path) -> None:
    same = ironsign.verify_renewal(pki / "leaf.pem", pki / "leaf.pem")
    assert same.identity_kept and same.key_kept and same.same_issuer
    assert same.old_not_after == same.new_not_after
    assert same.old_not_after.tzinfo is not None
    rekeyed = ironsign.verify_renewal(pki / "leaf.pem", pki / "leaf-p384.pem")
    assert rekeyed.identity_kept is True and rekeyed.key_kept is False
    changed = ironsign.verify_renewal(pki / "leaf.pem", pki / "other-leaf.pem")
    assert changed.identity_kept is False and changed.same_subject is False
    assert changed.same_sans is False and changed.removed_sans != []
    assert changed.to_dict()["identity_kept"] is False


def openssl_verify(tmp_path: Path, pem_text: str) -> str:
    path = tmp_path / "req.pem"
    path.write_text(pem_text)
    subprocess.run(["openssl", "req", "-verify", "-noout", "-in", str(path)], check=True, capture_output=True)
    return subprocess.run(
        ["openssl", "req", "-noout", "-text", "-in", str(path)], check=True, capture_output=True, text=True
    ).stdout


def test_create_csr(pki: Path, signer: ironsign.Signer, tmp_path: Path) -> None:
    csr = ironsign.create_csr(
        pki / "leaf.key",
        subject="CN=Pipeline Signer,OU=Pipeline,O=Example,C=US",
        emails=["signer@example.com"],
        uris=["https://ci.example.com/pipeline"],
        dns_names=["ci.example.com"],
    )
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    text = openssl_verify(tmp_path, csr)
    assert "CN=Pipeline Signer" in text or "CN = Pipeline Signer" in text
    assert "email:signer@example.com" in text and "URI:https://ci.example.com/pipeline" in text
    assert "DNS:ci.example.com" in text and "Code Signing" in text

    # Renewal: subject and SANs copied from the current certificate, signed by a Signer.
    renewal = ironsign.create_csr(signer, from_certificate=pki / "leaf.pem")
    text = openssl_verify(tmp_path, renewal)
    assert "Ironsign Test Signer" in text and "email:signer@example.com" in text

    # An encrypted key needs its password; RSA keys sign too.
    openssl_verify(tmp_path, ironsign.create_csr(pki / "leaf.enc.key", subject="CN=x", password="test-password"))
    openssl_verify(tmp_path, ironsign.create_csr((pki / "leaf-rsa.key").read_bytes(), subject="CN=rsa"))
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.create_csr(pki / "leaf.enc.key", subject="CN=x")
    assert info.value.code == "KEY_PASSWORD_REQUIRED"
    with pytest.raises(ironsign.InputError):
        ironsign.create_csr(signer, subject="not a name")
    with pytest.raises(ironsign.InputError):
        ironsign.create_csr(signer, subject="CN=x", from_certificate=pki / "leaf.pem")
    with pytest.raises(ironsign.InputError):
        ironsign.create_csr(signer)


def test_certificate_summary_times_are_aware(pki: Path) -> None:
    details = ironsign.inspect_certificate(pki / "root.pem").certificates[0]
    assert details.role == "root"
    assert details.summary.not_after > datetime.datetime.now(datetime.timezone.utc)
