"""Every surface function against the real registry."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import ironsign
import ironsign.aio
from conftest import ROOT, Image


def test_version_is_the_workspace_version() -> None:
    cargo = (ROOT / "Cargo.toml").read_text()
    m = re.search(r'\[workspace\.package\][^\[]*?\nversion = "([^"]+)"', cargo)
    assert m is not None
    assert ironsign.__version__ == m.group(1)


def test_public_names() -> None:
    for name in ironsign.__all__:
        assert hasattr(ironsign, name), name
    assert ironsign.aio.RegistryClient is ironsign.aio.AsyncRegistryClient


def test_sign_then_verify(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    image = new_image()
    report = client.sign(image.ref, signer, annotations={"build": "123"})
    assert isinstance(report, ironsign.SignReport)
    assert report.reference == image.ref
    assert report.warnings == []
    [entry] = report.signatures
    assert entry.digest == image.digest
    assert entry.tag == image.digest.replace(":", "-") + ".sig"
    assert entry.added is True
    assert entry.layer_digest.startswith("sha256:")

    # By tag: resolved to the same digest.
    result = client.verify(image.tag_ref, trust, policy)
    assert isinstance(result, ironsign.VerificationResult)
    assert result.digest == image.digest
    assert result.repository == image.repo
    assert result.time_source == "current_time"
    assert result.rejected == []
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((result.verified_at - now).total_seconds()) < 60
    [sig] = result.signatures
    assert sig.signer_kind == "certificate"
    assert sig.matched_identity == "signer@example.com"
    assert sig.layer_digest == entry.layer_digest
    cert = sig.certificate
    assert cert is not None
    assert cert.subject.startswith("CN=Ironsign Test Signer")
    assert cert.emails == ["signer@example.com"]
    assert "signer@example.com" in cert.sans
    assert cert.common_name == "Ironsign Test Signer"
    assert cert.not_after.tzinfo is not None and cert.not_after > now > cert.not_before
    assert cert.is_ca is False
    assert len(cert.sha256_fingerprint) == 64
    assert len(sig.chain) == 3 and sig.chain[0] == cert.subject
    assert sig.key_fingerprint is None
    assert sig.payload.docker_manifest_digest == image.digest
    assert sig.payload.docker_reference == image.repo
    assert sig.payload.type == "cosign container image signature"
    assert sig.payload.optional == {"build": "123"}
    # The cheap check first: the leaf's signature, then the path.
    assert sig.checks[:4] == ["signature", "code_signing_usage", "validity", "chain_to_root"]
    assert "digest_binding" in sig.checks

    # to_dict / to_json are the serde form (what the CLI prints with -o json).
    d = result.to_dict()
    assert d["digest"] == image.digest
    assert d["signatures"][0]["signer"]["certificate"]["subject"] == cert.subject
    assert json.loads(result.to_json()) == d
    assert json.loads(result.to_json(indent=2)) == d
    assert "\n  " in result.to_json(indent=2)
    assert report.to_dict()["signatures"][0]["added"] is True
    assert cert.to_dict()["not_after"].endswith("Z")
    assert "VerificationResult(" in repr(result)

    # Required annotations that are present pass.
    with_annotation = ironsign.Policy(identity="signer@example.com", annotations={"build": "123"})
    assert "annotations" in client.verify(image.ref, trust, with_annotation).signatures[0].checks


def test_signing_again_adds_nothing(
    signed_image: Image, client: ironsign.RegistryClient, signer: ironsign.Signer
) -> None:
    report = client.sign(signed_image.ref, signer)
    assert [e.added for e in report.signatures] == [False]


def test_recursive_signing_signs_every_platform(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    index = new_image(platforms="linux/amd64,linux/arm64")
    report = client.sign(index.tag_ref, signer, recursive=True)
    digests = [e.digest for e in report.signatures]
    assert len(digests) == 3 and digests[0] == index.digest
    for d in digests:
        assert client.verify(f"{index.repo}@{d}", trust, policy).digest == d


def test_fetch_then_verify_offline(
    signed_image: Image, client: ironsign.RegistryClient, trust: ironsign.TrustRoot, policy: ironsign.Policy
) -> None:
    assert client.digest_of(signed_image.tag_ref) == signed_image.digest
    fetched = client.fetch_signatures(signed_image.tag_ref)
    assert isinstance(fetched, ironsign.SignedImage)
    assert fetched.digest == signed_image.digest and len(fetched) == 1
    [layer] = fetched.signatures
    assert layer.media_type == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert "dev.cosignproject.cosign/signature" in layer.annotations
    assert json.loads(layer.payload)["critical"]["image"]["docker-manifest-digest"] == signed_image.digest
    assert fetched.to_dict()["digest"] == signed_image.digest

    offline = ironsign.Verifier(trust).verify(fetched, policy)
    online = client.verify(signed_image.ref, trust, policy)
    assert offline.signatures == online.signatures


def test_generate_payload(new_image: Callable[..., Image], client: ironsign.RegistryClient) -> None:
    image = new_image()
    payload = client.generate_payload(image.tag_ref, annotations={"a": "b"})
    doc = json.loads(payload)
    assert doc["critical"]["image"]["docker-manifest-digest"] == image.digest
    assert doc["critical"]["identity"]["docker-reference"] == image.repo
    assert doc["optional"] == {"a": "b"}
    other = json.loads(client.generate_payload(image.ref, identity="registry.example/x"))
    assert other["critical"]["identity"]["docker-reference"] == "registry.example/x"


def test_generated_key_pair_signs_for_key_trust(
    new_image: Callable[..., Image], client: ironsign.RegistryClient, tmp_path: Path
) -> None:
    private_pem, public_pem = ironsign.generate_key_pair("pw")
    assert b"ENCRYPTED SIGSTORE PRIVATE KEY" in private_pem
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    signer = ironsign.Signer.from_key_pem(private_pem, password=b"pw")
    assert signer.certificate is None
    assert signer.public_key_pem.encode() == public_pem
    image = new_image()
    client.sign(image.ref, signer)

    trust = ironsign.TrustRoot.from_public_key_pem(public_pem)
    [fingerprint] = trust.public_key_fingerprints
    result = client.verify(image.ref, trust, ironsign.Policy())
    [sig] = result.signatures
    assert sig.signer_kind == "key" and sig.key_fingerprint == fingerprint
    assert sig.certificate is None and sig.matched_identity is None

    (tmp_path / "cosign.pub").write_bytes(public_pem)
    from_file = ironsign.TrustRoot.from_public_key_files([tmp_path / "cosign.pub"])
    assert client.verify(image.ref, from_file, ironsign.Policy()).signatures == result.signatures
    assert ironsign.TrustRoot.from_public_key_pem([public_pem]).public_key_fingerprints == [fingerprint]


def test_signer_loaders(pki: Path) -> None:
    enc = ironsign.Signer.from_key_file(
        str(pki / "leaf.enc.key"), certificate=pki / "leaf.pem", chain=pki / "chain.pem", password="test-password"
    )
    plain = ironsign.Signer.from_key_pem(
        (pki / "leaf.key").read_bytes(),
        certificate=(pki / "leaf.pem").read_bytes(),
        chain=(pki / "chain.pem").read_bytes(),
    )
    assert enc.public_key_pem == plain.public_key_pem
    assert plain.certificate is not None and plain.certificate.emails == ["signer@example.com"]
    nosan = ironsign.Signer.from_key_file(pki / "leaf-nosan.key", certificate=pki / "leaf-nosan.pem")
    assert any("no subject alternative name" in w for w in nosan.warnings)
    assert "Signer(" in repr(plain)


def test_trust_root_loaders(pki: Path) -> None:
    from_files = ironsign.TrustRoot.from_pem_files(pki / "root.pem")
    assert [c.subject for c in from_files.roots] == [ironsign.TrustRoot.from_pem((pki / "root.pem").read_bytes()).roots[0].subject]
    assert from_files.intermediates == [] and from_files.public_key_fingerprints == []
    assert from_files.roots[0].is_ca
    with_inter = ironsign.TrustRoot.from_pem((pki / "root.pem").read_bytes(), (pki / "inter.pem").read_bytes())
    assert len(with_inter.intermediates) == 1
    chain = ironsign.TrustRoot.from_chain_file(pki / "chain.pem")
    assert chain.roots[0].subject == from_files.roots[0].subject
    assert len(chain.intermediates) == 1
    assert ironsign.TrustRoot.from_chain_pem((pki / "chain.pem").read_bytes()).roots == chain.roots
    assert "TrustRoot(" in repr(chain)


def test_policy_forms(
    signed_image: Image, client: ironsign.RegistryClient, trust: ironsign.TrustRoot, pki: Path
) -> None:
    subject = client.verify(signed_image.ref, trust, ironsign.Policy(identity="signer@example.com")).signatures[0]
    assert subject.certificate is not None
    forms = [
        ironsign.Policy(identity=["nobody@example.com", "signer@example.com"]),
        ironsign.Policy(identity="https://ci.example.com/pipelines/signer"),
        ironsign.Policy(identity_regexp=r"^signer@example\.com$"),
        ironsign.Policy(identity_regexp=[r"^x$", r"@example\.com$"]),
        ironsign.Policy(subject=subject.certificate.subject),
        ironsign.Policy(subject_regexp="CN=Ironsign Test Signer"),
        ironsign.Policy(dangerous_any_identity=True),
        ironsign.Policy(identity="signer@example.com", require_code_signing_eku=True),
    ]
    for p in forms:
        assert client.verify(signed_image.ref, trust, p).digest == signed_image.digest, repr(p)
    p = ironsign.Policy(identity="a@b", annotations={"k": "v"})
    assert p.annotations == {"k": "v"}
    assert repr(p) == 'Policy(identity=["a@b"], annotations={"k": "v"})'
    # Every verification through the chain-file trust works too.
    chain_trust = ironsign.TrustRoot.from_chain_file(pki / "chain.pem")
    assert client.verify(signed_image.ref, chain_trust, forms[0]).signatures


def test_layout_references(
    tmp_path: Path, signer: ironsign.Signer, trust: ironsign.TrustRoot, policy: ironsign.Policy
) -> None:
    from conftest import SCRIPTS, run

    line = run(SCRIPTS / "make-test-image", f"oci:{tmp_path / 'layout'}:v1").strip()
    digest = line.rsplit("@", 1)[1]
    reg = ironsign.RegistryClient(config_files=[])
    ref = f"oci:{tmp_path / 'layout'}:v1"
    assert reg.sign(ref, signer).signatures[0].digest == digest
    assert reg.verify(ref, trust, policy).digest == digest


def test_list_artifacts(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    pki: Path,
) -> None:
    image = new_image(platforms="linux/amd64,linux/arm64")
    client.sign(image.tag_ref, signer, recursive=True)
    client.attach_sbom(image.ref, ROOT / "examples/quickstart/sbom.spdx.json")
    tree = client.list_artifacts(image.tag_ref)
    assert tree.digest == image.digest
    assert tree.signatures is not None and len(tree.signatures["entries"]) == 1
    assert tree.sboms is not None and tree.sboms["entries"][0]["media_type"] == "text/spdx+json"
    assert tree.attestations is None
    assert len(tree.platforms) == 2
    assert all(p.signatures is not None for p in tree.platforms)
    assert tree.verification is None
    # With trust and policy, each signature carries its status.
    verified = client.list_artifacts(image.tag_ref, trust, policy, platforms=False)
    assert verified.platforms == []
    assert verified.signatures is not None
    assert verified.signatures["entries"][0]["status"]["state"] == "verified"
    wrong = client.list_artifacts(image.tag_ref, trust, ironsign.Policy(identity="nobody@example.com"))
    assert wrong.signatures is not None
    assert wrong.signatures["entries"][0]["status"]["code"] == "IDENTITY_MISMATCH"
    assert tree.to_dict()["digest"] == image.digest
    with pytest.raises(ironsign.InputError):
        client.list_artifacts(image.tag_ref, trust)

    async def listed() -> ironsign.ArtifactTree:
        return await ironsign.aio.RegistryClient().list_artifacts(image.tag_ref)

    assert asyncio.run(listed()) == tree
