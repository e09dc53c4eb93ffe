"""Sigstore bundle v0.3 referrers (cosign v3's format): written on request, verified beside the
legacy tags, the format reported on every result. The test registry is distribution 2.8, so the
referrers tag schema (`sha256-<hex>`) lists them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import ironsign
import ironsign.aio
from conftest import Image

SIGN_TYPE = "https://sigstore.dev/cosign/sign/v1"
BUILD_TYPE = "https://example.com/build/v1"


def test_bundle_format_sign_attest_and_verify(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    image = new_image()
    legacy = client.sign(image.ref, signer)
    assert legacy.signatures[0].format == "legacy_tag" and legacy.signatures[0].referrer is None
    report = client.sign(image.ref, signer, annotations={"team": "py"}, bundle_format=True)
    entry = report.signatures[0]
    assert entry.format == "sigstore_bundle"
    assert entry.referrer is not None and entry.referrer.startswith("sha256:")
    assert entry.tag == image.digest.replace(":", "-")  # the referrers tag: no API here

    # The legacy signature satisfies the policy: the bundles are not read unless asked for.
    result = client.verify(image.ref, trust, policy)
    assert [s.format for s in result.signatures] == ["legacy_tag"]
    result = client.verify(image.ref, trust, policy, all_signatures=True)
    assert sorted(s.format for s in result.signatures) == ["legacy_tag", "sigstore_bundle"]
    bundled = next(s for s in result.signatures if s.format == "sigstore_bundle")
    assert bundled.referrer == entry.referrer
    assert bundled.payload.type == SIGN_TYPE
    assert bundled.to_dict()["format"] == "sigstore_bundle"

    attested = client.attest(image.ref, signer, predicate_type=BUILD_TYPE, predicate={"a": 1}, bundle_format=True)
    assert attested.format == "sigstore_bundle" and attested.referrer is not None
    found = client.verify_attestation(image.ref, trust, policy, predicate_type=BUILD_TYPE)
    assert [a.format for a in found.attestations] == ["sigstore_bundle"]
    assert found.attestations[0].referrer == attested.referrer


def test_bundle_format_async(
    new_image: Callable[..., Image],
    registry: str,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    image = new_image()

    async def go() -> ironsign.VerificationResult:
        aclient = ironsign.aio.RegistryClient(insecure_http=[registry], config_files=[])
        await aclient.sign(image.ref, signer, bundle_format=True)
        return await aclient.verify(image.ref, trust, policy)

    result = asyncio.run(go())
    assert [s.format for s in result.signatures] == ["sigstore_bundle"]
