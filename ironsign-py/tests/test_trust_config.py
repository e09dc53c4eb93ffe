"""Trust configurations: verification under one, and the instructions generated from it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import ironsign
import ironsign.aio
from conftest import Image


def write_config(tmp_path: Path, pki: Path, registry: str, *, attestations: str = "") -> Path:
    config = tmp_path / "trust.yaml"
    config.write_text(
        "version: 1\n"
        "name: py-images\n"
        f'images: ["{registry}/py/*"]\n'
        f"roots: [{{file: {pki / 'root.pem'}}}]\n"
        f"intermediates: [{{file: {pki / 'inter.pem'}}}]\n"
        "identity: {san: signer@example.com}\n" + attestations
    )
    return config


def test_a_trust_config_verifies_what_it_covers(
    tmp_path: Path, pki: Path, registry: str, client: ironsign.RegistryClient, signed_image: Image,
    new_image: Callable[..., Image],
) -> None:  # fmt: skip
    config = ironsign.TrustConfig.from_file(write_config(tmp_path, pki, registry))
    assert config.name == "py-images" and config.images == [f"{registry}/py/*"]
    assert config.covers(signed_image.ref) and not config.covers("registry.example/py/x:1")
    result = client.verify_with_trust_config(signed_image.ref, config)
    assert result.trust_config == "py-images" and result.attestations == []
    assert result.signature.digest == signed_image.digest
    assert result.to_dict()["signature"]["signatures"][0]["matched_identity"] == "signer@example.com"
    # The same trust and policy, taken apart.
    assert client.verify(signed_image.ref, config.trust_root, config.policy).digest == signed_image.digest
    with pytest.raises(ironsign.NoSignaturesError):
        client.verify_with_trust_config(new_image().ref, config)
    with pytest.raises(ironsign.VerificationError) as info:
        client.verify_with_trust_config(f"{registry}/other/app@{signed_image.digest}", config)
    assert info.value.code == "IMAGE_NOT_COVERED"
    aio = ironsign.aio.RegistryClient(insecure_http=[registry], config_files=[])

    async def verify_async() -> ironsign.TrustConfigVerification:
        return await aio.verify_with_trust_config(signed_image.ref, config)

    assert asyncio.run(verify_async()).signature.digest == result.signature.digest


def test_required_attestations_are_verified_too(
    tmp_path: Path, pki: Path, registry: str, client: ironsign.RegistryClient, signer: ironsign.Signer,
    signed_image: Image,
) -> None:  # fmt: skip
    config = ironsign.TrustConfig.from_file(write_config(tmp_path, pki, registry, attestations="attestations: [{type: vuln}]\n"))
    assert config.required_predicate_types == ["https://cosign.sigstore.dev/attestation/vuln/v1"]
    with pytest.raises(ironsign.NoSignaturesError):
        client.verify_with_trust_config(signed_image.ref, config)
    report = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "trivy-report.json"
    client.attest(signed_image.ref, signer, predicate_type="vuln", predicate=report)
    result = client.verify_with_trust_config(signed_image.ref, config)
    assert [a.predicate_type for a in result.attestations] == config.required_predicate_types


def test_bad_configs_name_the_field(tmp_path: Path, pki: Path) -> None:
    with pytest.raises(ironsign.InputError) as info:
        ironsign.TrustConfig.from_text(
            "version: 1\nimages: [r.example/a/*]\nroots: [{file: root.pem}]\nidentity: {san: a@b}\ncolour: x\n",
            base_dir=pki,
        )
    assert info.value.code == "INVALID_TRUST_CONFIG" and "colour" in str(info.value)
    config = ironsign.TrustConfig.from_text(
        json.dumps({"version": 1, "images": ["r.example/a/*"], "roots": [{"file": "root.pem"}], "identity": {"san": "a@b"}}),
        base_dir=pki,
    )
    assert config.to_dict()["identity"] == {"san": "a@b"}


def test_instructions_for_every_format(tmp_path: Path, pki: Path, registry: str) -> None:
    config = ironsign.TrustConfig.from_file(write_config(tmp_path, pki, registry))
    image = f"{registry}/py/app@sha256:{'0' * 64}"
    cosign = ironsign.instructions("cosign", config, image)
    assert list(cosign) == ["verify-cosign-v2.sh", "verify-cosign-v3.sh"]
    assert "--new-bundle-format=false" in cosign["verify-cosign-v3.sh"]
    assert image in cosign["verify-cosign-v2.sh"]
    assert "rekor" in ironsign.instructions("kyverno", config)["kyverno-clusterpolicy.yaml"]
    assert "TrustRoot" in ironsign.instructions("policy-controller", config)["policy-controller-trustroot.yaml"]
    podman = ironsign.instructions("podman", config)
    assert json.loads(podman["policy.json"])["transports"]["docker"][f"{registry}/py"][0]["pki"]["subjectEmail"] == "signer@example.com"
    assert "signer@example.com" in ironsign.instructions("markdown", config, image)["verify.md"]
    assert ironsign.instructions("html", config)["verify.html"].startswith("<!doctype html>")
    with pytest.raises(ironsign.VerificationError):
        ironsign.instructions("cosign", config, "registry.example/elsewhere/app:1")
    with pytest.raises(ironsign.InputError):
        ironsign.instructions("helm", config)  # type: ignore[arg-type]


def test_a_certificate_without_code_signing_and_a_key_anchored_config(
    tmp_path: Path, pki: Path, registry: str, client: ironsign.RegistryClient, signer: ironsign.Signer,
    new_image: Callable[..., Image],
) -> None:  # fmt: skip
    # serverAuth/clientAuth only (DoD-shaped): accepted with a finding, refused with strict_eku.
    dod = ironsign.Signer.from_key_file(pki / "dod-leaf.key", certificate=pki / "dod-leaf.pem", chain=pki / "dod-chain.pem")
    assert [f["code"] for f in dod.findings] == ["NO_CODE_SIGNING_EKU"]
    assert "verification by the public key works" in dod.findings[0]["message"]
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.Signer.from_key_file(
            pki / "dod-leaf.key", certificate=pki / "dod-leaf.pem", chain=pki / "dod-chain.pem", strict_eku=True
        )
    assert info.value.code == "CERT_NO_CODE_SIGNING"
    dod_image, other_image = new_image(), new_image()
    client.sign(dod_image.ref, dod)
    client.sign(other_image.ref, signer)  # another key, with a valid chain under a root not configured
    config_path = tmp_path / "keys.yaml"
    config_path.write_text(f'version: 1\nimages: ["{registry}/py/*"]\nkeys: [{{file: {pki / "dod-leaf.pub"}}}]\n')
    config = ironsign.TrustConfig.from_file(config_path)
    result = client.verify_with_trust_config(dod_image.ref, config)
    assert result.to_dict()["signature"]["signatures"][0]["signer"]["kind"] == "key"
    with pytest.raises(ironsign.NoMatchingSignatureError):
        client.verify_with_trust_config(other_image.ref, config)
    with pytest.raises(ironsign.InputError) as bad:
        ironsign.TrustConfig.from_text(
            "version: 1\nimages: [r.example/a/*]\nkeys: [{file: dod-leaf.pub}]\nidentity: {san: a@b}\n", base_dir=pki
        )
    assert bad.value.code == "INVALID_TRUST_CONFIG" and "identity" in str(bad.value)
