"""Each error class is raised where it should be, with its code, family and details."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

import ironsign
from conftest import Image


def test_hierarchy() -> None:
    families = [
        ironsign.VerificationError,
        ironsign.RegistryError,
        ironsign.KeyMaterialError,
        ironsign.CertificateError,
        ironsign.InputError,
    ]
    for cls in families:
        assert issubclass(cls, ironsign.IronsignError)
        assert cls.__module__ == "ironsign"
    assert issubclass(ironsign.NoSignaturesError, ironsign.VerificationError)
    assert issubclass(ironsign.NoMatchingSignatureError, ironsign.VerificationError)
    assert issubclass(ironsign.ImageNotFoundError, ironsign.RegistryError)
    assert issubclass(ironsign.InputError, ValueError)
    assert not issubclass(ironsign.KeyMaterialError, KeyError)


def test_wrong_identity(
    signed_image: Image, client: ironsign.RegistryClient, trust: ironsign.TrustRoot
) -> None:
    with pytest.raises(ironsign.NoMatchingSignatureError) as info:
        client.verify(signed_image.ref, trust, ironsign.Policy(identity="ironbank@example.mil"))
    e = info.value
    assert e.code == "NO_MATCHING_SIGNATURE" and e.family == "verification"
    assert "identity mismatch" in str(e) and "ironbank@example.mil" in str(e)
    [rejection] = e.rejections
    assert rejection["index"] == 0
    mismatch = rejection["reason"]["IdentityMismatch"]
    assert mismatch["expected"] == 'SAN "ironbank@example.mil"'
    assert "signer@example.com" in mismatch["found"]
    assert e.details["NoMatchingSignature"]["count"] == 1


def test_missing_annotation(signed_image: Image, client: ironsign.RegistryClient, trust: ironsign.TrustRoot) -> None:
    policy = ironsign.Policy(identity="signer@example.com", annotations={"build": "999"})
    with pytest.raises(ironsign.NoMatchingSignatureError) as info:
        client.verify(signed_image.ref, trust, policy)
    assert "AnnotationMismatch" in info.value.rejections[0]["reason"]


def test_unsigned_image(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    image = new_image()
    with pytest.raises(ironsign.NoSignaturesError) as info:
        client.verify(image.tag_ref, trust, policy)
    assert info.value.code == "NO_SIGNATURES"
    assert info.value.details == {"NoSignatures": {"image": image.ref, "kind": "signatures"}}


def test_untrusted_root(signed_image: Image, client: ironsign.RegistryClient, pki: Path, policy: ironsign.Policy) -> None:
    other = ironsign.TrustRoot.from_pem_files(pki / "other-root.pem")
    with pytest.raises(ironsign.NoMatchingSignatureError) as info:
        client.verify(signed_image.ref, other, policy)
    assert "Certificate" in info.value.rejections[0]["reason"]
    assert "UntrustedChain" in info.value.rejections[0]["reason"]["Certificate"]


def test_attacker_pki_with_identical_names(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    pki: Path,
) -> None:
    image = new_image()
    attacker = ironsign.Signer.from_key_file(
        pki / "attacker-leaf.key", certificate=pki / "attacker-leaf.pem", chain=pki / "attacker-chain.pem"
    )
    client.sign(image.ref, attacker)
    with pytest.raises(ironsign.NoMatchingSignatureError):
        client.verify(image.ref, trust, policy)


def test_key_errors(pki: Path) -> None:
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_key_file(pki / "leaf.enc.key", password="wrong")
    assert info.value.code == "KEY_WRONG_PASSWORD" and info.value.family == "key"
    assert "wrong" not in str(info.value).replace("wrong password", "")
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_key_file(pki / "leaf.enc.key")
    assert info.value.code == "KEY_PASSWORD_REQUIRED"
    private_pem, _ = ironsign.generate_key_pair(b"right")
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_key_pem(private_pem, password="left")
    assert info.value.code == "KEY_WRONG_PASSWORD"
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_key_pem(b"not a key")
    assert info.value.code == "KEY_PARSE"
    with pytest.raises(ironsign.KeyMaterialError):
        ironsign.TrustRoot.from_public_key_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_certificate_errors(pki: Path) -> None:
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.Signer.from_key_file(pki / "leaf.key", certificate=pki / "other-leaf.pem")
    assert info.value.code == "CERT_KEY_MISMATCH" and info.value.family == "certificate"
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.Signer.from_key_file(pki / "leaf-expired.key", certificate=pki / "leaf-expired.pem")
    assert info.value.code == "CERT_EXPIRED"
    assert set(info.value.details["Expired"]) >= {"subject", "not_after", "time"}
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.TrustRoot.from_pem(b"garbage")
    assert info.value.code == "CERT_PARSE"
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.TrustRoot.from_pem_files(pki / "inter.pem")
    assert info.value.code == "CERT_NOT_A_ROOT"


def test_input_errors(client: ironsign.RegistryClient, trust: ironsign.TrustRoot, pki: Path) -> None:
    with pytest.raises(ironsign.InputError) as info:
        client.verify("Not A Reference!", trust, ironsign.Policy(identity="x"))
    assert info.value.code == "INVALID_REFERENCE"
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError):
        client.digest_of("bad::ref")
    with pytest.raises(ironsign.InputError) as info:
        ironsign.Signer.from_key_file(pki / "missing.key")
    assert info.value.code == "IO"
    with pytest.raises(ironsign.InputError) as info:
        ironsign.Policy(identity="a", identity_regexp="b")
    assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ironsign.InputError):
        ironsign.Policy(identity="a", dangerous_any_identity=True)
    with pytest.raises(ironsign.InputError):
        ironsign.Policy(identity=[])
    with pytest.raises(ironsign.InputError):
        ironsign.Policy(identity_regexp="(unclosed")
    with pytest.raises(ironsign.InputError):
        ironsign.Signer.from_key_file(pki / "leaf.key", chain=pki / "chain.pem")
    with pytest.raises(ironsign.InputError):
        ironsign.TrustRoot.from_pem_files([])
    with pytest.raises(ironsign.InputError):
        ironsign.RegistryClient(ca_file=pki / "missing.pem")
    with pytest.raises(ironsign.InputError):
        ironsign.RegistryClient(auth=("", "pw"))


def test_policy_does_not_fit_trust(signed_image: Image, client: ironsign.RegistryClient, trust: ironsign.TrustRoot) -> None:
    # Certificate trust without an identity is refused before anything is trusted.
    with pytest.raises(ironsign.InputError) as info:
        client.verify(signed_image.ref, trust, ironsign.Policy())
    assert info.value.code == "INVALID_ARGUMENT"


def test_missing_image(
    registry: str, client: ironsign.RegistryClient, trust: ironsign.TrustRoot, policy: ironsign.Policy
) -> None:
    with pytest.raises(ironsign.ImageNotFoundError) as info:
        client.verify(f"{registry}/py/does-not-exist:v1", trust, policy)
    assert info.value.code == "IMAGE_NOT_FOUND" and info.value.family == "registry"
    assert isinstance(info.value, ironsign.RegistryError)


def test_unreachable_registry(trust: ironsign.TrustRoot, policy: ironsign.Policy) -> None:
    reg = ironsign.RegistryClient(config_files=[])
    with pytest.raises(ironsign.RegistryError) as info:
        reg.digest_of("127.0.0.1:1/nothing/here:v1")
    assert info.value.code == "REGISTRY_TRANSPORT"


def test_exceptions_pickle(signed_image: Image, client: ironsign.RegistryClient, trust: ironsign.TrustRoot) -> None:
    with pytest.raises(ironsign.NoMatchingSignatureError) as info:
        client.verify(signed_image.ref, trust, ironsign.Policy(identity="x@example.com"))
    e = info.value
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is ironsign.NoMatchingSignatureError
    assert (str(back), back.code, back.family, back.details) == (str(e), e.code, e.family, e.details)
    assert repr(back).startswith("NoMatchingSignatureError(")


def core_error_codes() -> set[str]:
    """Every code the core's error enums define (the `code()` matches of ironsign-core/src/error.rs),
    except the rejection reasons, which are not errors."""
    import re

    from conftest import ROOT

    source = (ROOT / "ironsign-core" / "src" / "error.rs").read_text()
    codes: set[str] = set()
    for enum in ("VerificationError", "CertificateError", "KeyError", "RegistryError", "InputError", "TimestampError"):
        m = re.search(rf"impl {enum} \{{.*?\n\}}", source, re.S)
        assert m is not None, enum
        codes |= set(re.findall(rf'{enum}::\w+ \{{ \.\. \}} => "([A-Z_0-9]+)"', m.group(0)))
    return codes


EXPECTED_CLASS = {
    "NO_SIGNATURES": ironsign.NoSignaturesError,
    "NO_MATCHING_SIGNATURE": ironsign.NoMatchingSignatureError,
    "POLICY_DENIED": ironsign.PolicyDeniedError,
    "IMAGE_NOT_FOUND": ironsign.ImageNotFoundError,
    "INVALID_PREDICATE": ironsign.PredicateError,
    "PREDICATE_SCHEMA_VIOLATION": ironsign.PredicateError,
    "UNKNOWN_SCANNER": ironsign.PredicateError,
    "UNKNOWN_SBOM_FORMAT": ironsign.SbomFormatError,
    "SBOM_FORMAT_MISMATCH": ironsign.SbomFormatError,
    "INVALID_POLICY": ironsign.InvalidPolicyError,
}
FAMILY_CLASS = {
    "verification": ironsign.VerificationError,
    "registry": ironsign.RegistryError,
    "key": ironsign.KeyMaterialError,
    "certificate": ironsign.CertificateError,
    "input": ironsign.InputError,
    "timestamp": ironsign.TimestampError,
}


def test_mapping_names_every_core_error() -> None:
    from ironsign import _ironsign

    codes = core_error_codes()
    assert len(codes) >= 38 and "SBOM_FORMAT_MISMATCH" in codes
    mapped = _ironsign._error_classes()
    # A variant added to the core and not to the binding's mapping fails here.
    assert set(mapped) == codes
    for code in sorted(codes):
        with pytest.raises(ironsign.IronsignError) as info:
            _ironsign._raise_error(code)
        e = info.value
        assert e.code == code
        assert type(e).__name__ == mapped[code]
        assert isinstance(e, FAMILY_CLASS[e.family]), code
        assert type(e) is EXPECTED_CLASS.get(code, FAMILY_CLASS[e.family]), code
        assert pickle.loads(pickle.dumps(e)).code == code
    assert issubclass(ironsign.PolicyDeniedError, ironsign.VerificationError)
    for cls in (ironsign.PredicateError, ironsign.SbomFormatError, ironsign.InvalidPolicyError):
        assert issubclass(cls, ironsign.InputError) and issubclass(cls, ValueError)
        assert cls.__module__ == "ironsign"
