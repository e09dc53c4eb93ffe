"""Batch verification (`verify_many`): one client and one verifier for many images, one entry per
image in order, a failing image returned as its exception beside the others' results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import ironsign
import ironsign.aio
import pytest
from conftest import Image


def test_verify_many_reports_the_bad_image_and_verifies_the_others(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    pki: Path,
) -> None:
    images = [new_image() for _ in range(4)]
    for image in images[:3]:
        client.sign(image.ref, signer)
    missing = f"{images[0].repo}:absent"
    refs = [images[0].ref, images[3].ref, images[1].tag_ref, missing, images[2].ref]
    results = client.verify_many(refs, trust, policy, max_concurrency=2)
    assert len(results) == 5
    assert isinstance(results[1], ironsign.NoSignaturesError) and results[1].code == "NO_SIGNATURES"
    assert isinstance(results[3], ironsign.ImageNotFoundError) and results[3].code == "IMAGE_NOT_FOUND"
    for index, image in ((0, images[0]), (2, images[1]), (4, images[2])):
        result = results[index]
        assert isinstance(result, ironsign.VerificationResult), result
        assert result.digest == image.digest
        assert [s.format for s in result.signatures] == ["legacy_tag"]

    async def go() -> list[ironsign.VerificationResult | Exception]:
        aclient = ironsign.aio.RegistryClient(insecure_http=[images[0].repo.split("/")[0]], config_files=[])
        return await aclient.verify_many(refs, trust, policy, all_signatures=True)

    again = asyncio.run(go())
    assert [type(r).__name__ for r in again] == [type(r).__name__ for r in results]

    # Another root: every signed image fails on its own, none let through by what the first
    # verifier validated.
    attacker = ironsign.TrustRoot.from_pem_files(roots=[pki / "attacker-root.pem"])
    signed = [images[0].ref, images[1].ref, images[2].ref]
    for refused in client.verify_many(signed, attacker, policy):
        assert isinstance(refused, ironsign.NoMatchingSignatureError), refused
        assert [r["code"] for r in refused.rejections] == ["CERT_UNTRUSTED_CHAIN"]


def test_verify_many_reuses_the_verdict_of_an_unchanged_image(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    pki: Path,
    policy: ironsign.Policy,
) -> None:
    # A trust root of this test's own: its cache and counters are this test's.
    trust = ironsign.TrustRoot.from_pem_files(roots=[pki / "root.pem"], intermediates=[pki / "inter.pem"])
    image = new_image()
    client.sign(image.ref, signer)
    [first] = client.verify_many([image.ref], trust, policy)
    assert trust.result_cache_stats() == {"hits": 0, "misses": 1, "entries": 1}
    [again] = client.verify_many([image.ref], trust, policy)
    assert trust.result_cache_stats()["hits"] == 1
    assert isinstance(first, ironsign.VerificationResult) and isinstance(again, ironsign.VerificationResult)
    assert again.to_dict() == first.to_dict()
    # A signature appended: verified in full, both listed.
    client.sign(image.ref, signer, annotations={"run": "2"})
    [appended] = client.verify_many([image.ref], trust, policy)
    assert isinstance(appended, ironsign.VerificationResult) and len(appended.signatures) == 2
    assert trust.result_cache_stats()["misses"] == 2
    # Another policy: verified in full, and refused.
    [refused] = client.verify_many([image.ref], trust, ironsign.Policy(identity="someone@example.com"))
    assert isinstance(refused, ironsign.NoMatchingSignatureError)
    assert trust.result_cache_stats()["hits"] == 1


def test_verify_many_refuses_bad_arguments(
    client: ironsign.RegistryClient, trust: ironsign.TrustRoot, policy: ironsign.Policy
) -> None:
    with pytest.raises(ironsign.InputError) as refused:
        client.verify_many(["registry.example/a:1"], trust, policy, max_concurrency=0)
    assert refused.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ironsign.InputError) as invalid:
        client.verify_many(["registry.example/a:1", "NOT A REFERENCE"], trust, policy)
    assert invalid.value.code == "INVALID_REFERENCE"
    # A string is a sequence of strings to the type checker; the binding refuses it.
    with pytest.raises(TypeError):
        client.verify_many("registry.example/a:1", trust, policy)
