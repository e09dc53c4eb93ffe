"""Keys in a PKCS#11 token (SoftHSM2), RFC 3161 timestamps and CRLs through the binding."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import ironsign
from conftest import SCRIPTS, Image, run

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture(scope="module")
def token(pki: Path) -> str:
    conf = run(SCRIPTS / "softhsm-token", pki / "softhsm", pki).strip()
    # SoftHSM reads its configuration when the module is initialised (first use in this process).
    os.environ["SOFTHSM2_CONF"] = conf
    return conf


def test_pkcs11_signer_with_timestamps(
    token: str,
    pki: Path,
    tsa_url: str,
    client: ironsign.RegistryClient,
    new_image: Callable[..., Image],
    policy: ironsign.Policy,
) -> None:
    signer = ironsign.Signer.from_pkcs11_uri(
        "pkcs11:token=ironsign;object=signer", module_path=MODULE, pin="1234", chain=pki / "chain.pem"
    )
    assert signer.certificate is not None and "Ironsign Test Signer" in signer.certificate.subject
    assert signer.public_key_pem.replace("\r\n", "\n") == (pki / "leaf.pub").read_text()
    image = new_image()
    client.sign(image.ref, signer.with_timestamp_server(f"{tsa_url}/ecdsa"))
    trust = ironsign.TrustRoot.from_pem_files(roots=[pki / "root.pem"])
    timestamped = trust.with_timestamp_authorities((pki / "tsa-ecdsa-chain.pem").read_bytes())
    result = client.verify(image.ref, timestamped, policy)
    assert result.signatures[0].checks[0] == "timestamp"
    # Without TSA trust the timestamp is not used.
    assert "timestamp" not in client.verify(image.ref, trust, policy).signatures[0].checks
    # The wrong TSA root rejects the signature with the timestamp's code.
    other = trust.with_timestamp_authorities((pki / "other-root.pem").read_bytes())
    with pytest.raises(ironsign.NoMatchingSignatureError) as info:
        client.verify(image.ref, other, policy)
    assert info.value.rejections[0]["code"] == "TIMESTAMP_UNTRUSTED"


def test_pkcs11_errors(token: str) -> None:
    # (A wrong PIN is tested by the CLI tests: in this process the token is already logged in.)
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_pkcs11_uri("pkcs11:token=ironsign;object=nope", module_path=MODULE, pin="1234")
    assert info.value.code == "KEY_SIGNING_FAILED" and "no private key matches" in str(info.value)
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_pkcs11_uri("pkcs11:token=ironsign", module_path=MODULE, pin="1234")
    assert info.value.code == "KEY_PARSE"


def test_unreachable_tsa_and_bad_crl(
    pki: Path, signer: ironsign.Signer, client: ironsign.RegistryClient, new_image: Callable[..., Image]
) -> None:
    with pytest.raises(ironsign.TimestampError) as info:
        client.sign(new_image().ref, signer.with_timestamp_server("http://127.0.0.1:9/ecdsa"))
    assert info.value.code == "TIMESTAMP_REQUEST"
    trust = ironsign.TrustRoot.from_pem_files(roots=[pki / "root.pem"])
    with pytest.raises(ironsign.CertificateError):
        trust.with_crls((pki / "root.pem").read_bytes())
