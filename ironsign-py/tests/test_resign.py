"""Certificate rotation: resign_plan names exactly the image signed by the old certificate,
resign_apply signs it with the new one (the old signature stays), and a second plan is empty."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import ironsign
import ironsign.aio
from conftest import SCRIPTS, Image, run


def test_resign_plan_apply_converges(
    pki: Path,
    client: ironsign.RegistryClient,
    new_image: Callable[..., Image],
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    old, new, unsigned = new_image(), new_image(), new_image()
    rsa = ironsign.Signer.from_key_file(
        pki / "leaf-rsa.key", certificate=pki / "leaf-rsa.pem", chain=pki / "chain.pem"
    )
    client.sign(old.ref, signer)
    client.sign(new.ref, rsa)
    repos = [old.repo, new.repo, unsigned.repo]

    plan = client.resign_plan(repos, trust, policy, signed_by=pki / "leaf.pem")
    assert [c["image"] for c in plan.candidates] == [old.ref]
    assert plan.candidates[0]["tags"] == ["t"]
    assert signer.certificate is not None
    assert plan.candidates[0]["signer"]["sha256_fingerprint"] == signer.certificate.sha256_fingerprint
    assert sorted(s["reason"] for s in plan.skipped) == ["NO_SIGNATURES", "not_due"]
    assert plan.errors == []
    assert plan.to_dict()["media_type"] == plan.media_type
    assert json.loads(plan.to_json())["candidates"] == plan.candidates
    # The certificate as PEM bytes names the same images; the expiry window counts both signed ones.
    assert client.resign_plan(repos, trust, policy, signed_by=(pki / "leaf.pem").read_bytes()) == plan
    assert len(client.resign_plan(repos, trust, policy, expires_within_days=400).candidates) == 2
    assert client.resign_plan(repos, trust, policy, expires_within_days=30).candidates == []

    report = client.resign_apply(plan, rsa)
    assert report.signed == [old.ref] and report.failed == []
    assert report.to_dict() == {"signed": [old.ref], "failed": []}
    serials = {s.certificate.serial for s in client.verify(old.ref, trust, policy).signatures if s.certificate}
    assert len(serials) == 2
    assert client.resign_plan(repos, trust, policy, signed_by=pki / "leaf.pem").candidates == []


def test_resign_refuses_what_verify_refuses(
    pki: Path,
    client: ironsign.RegistryClient,
    new_image: Callable[..., Image],
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    tmp_path: Path,
) -> None:
    """An image whose only signature is by a revoked certificate is not re-signed (no laundering)."""
    image = new_image()
    client.sign(image.ref, signer)
    run(SCRIPTS / "make-test-crl", pki, "inter", tmp_path / "crl.pem", "leaf")
    revoking = trust.with_crls((tmp_path / "crl.pem").read_bytes())
    with pytest.raises(ironsign.NoMatchingSignatureError) as info:
        client.verify(image.ref, revoking, policy)
    assert [r["code"] for r in info.value.rejections] == ["CERT_REVOKED"]

    plan = client.resign_plan([image.repo], revoking, policy, signed_by=pki / "leaf.pem")
    assert plan.candidates == []
    assert plan.skipped == [{"image": image.ref, "reason": "NO_MATCHING_SIGNATURE", "rejections": ["CERT_REVOKED"]}]
    rsa = ironsign.Signer.from_key_file(pki / "leaf-rsa.key", certificate=pki / "leaf-rsa.pem", chain=pki / "chain.pem")
    assert client.resign_apply(plan, rsa).signed == []
    assert len(client.verify(image.ref, trust, policy).signatures) == 1
    # The CRL decided: the same plan without it re-signs the image.
    assert [c["image"] for c in client.resign_plan([image.repo], trust, policy, signed_by=pki / "leaf.pem").candidates] == [image.ref]


def test_resign_signs_with_the_policy_annotations(
    pki: Path,
    client: ironsign.RegistryClient,
    new_image: Callable[..., Image],
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
) -> None:
    """The new signatures satisfy the policy the plan was made under, so the plan converges."""
    image = new_image()
    client.sign(image.ref, signer, annotations={"env": "prod"})
    policy = ironsign.Policy(identity="signer@example.com", annotations={"env": "prod"})
    plan = client.resign_plan([image.repo], trust, policy, signed_by=pki / "leaf.pem")
    assert plan.to_dict()["annotations"] == {"env": "prod"}
    rsa = ironsign.Signer.from_key_file(pki / "leaf-rsa.key", certificate=pki / "leaf-rsa.pem", chain=pki / "chain.pem")
    assert client.resign_apply(plan, rsa).signed == [image.ref]
    assert len(client.verify(image.ref, trust, policy).signatures) == 2
    assert client.resign_plan([image.repo], trust, policy, signed_by=pki / "leaf.pem").candidates == []


def test_resign_arguments(
    pki: Path, client: ironsign.RegistryClient, trust: ironsign.TrustRoot, policy: ironsign.Policy, registry: str
) -> None:
    with pytest.raises(ironsign.InputError) as info:
        client.resign_plan([f"{registry}/any"], trust, policy)
    assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ironsign.InputError):
        client.resign_plan([f"{registry}/any"], trust, policy, expires_within_days=1, signed_by=pki / "leaf.pem")
    with pytest.raises(ironsign.InputError):
        client.resign_plan([f"{registry}/any:tag"], trust, policy, expires_within_days=1)


def test_resign_asyncio(
    pki: Path,
    registry: str,
    new_image: Callable[..., Image],
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    rsa = ironsign.Signer.from_key_file(
        pki / "leaf-rsa.key", certificate=pki / "leaf-rsa.pem", chain=pki / "chain.pem"
    )

    async def main() -> None:
        aio = ironsign.aio.RegistryClient(insecure_http=[registry], config_files=[])
        image = new_image()
        await aio.sign(image.ref, signer)
        plan = await aio.resign_plan([image.repo], trust, policy, signed_by=pki / "leaf.pem")
        assert [c["image"] for c in plan.candidates] == [image.ref]
        report = await aio.resign_apply(plan, rsa)
        assert report.signed == [image.ref]
        assert (await aio.resign_plan([image.repo], trust, policy, signed_by=pki / "leaf.pem")).candidates == []

    asyncio.run(main())
