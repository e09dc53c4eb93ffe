"""Attestations, Rego policies and SBOMs against the real registry, sync and asyncio."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

import ironsign
import ironsign.aio
from conftest import COSIGN, ROOT, Image, make_images

FIXTURES = ROOT / "ironsign-cli" / "tests" / "fixtures"
SCANNERS = FIXTURES / "scanners"
TRACKER = FIXTURES / "tracker"
POLICY = FIXTURES / "policies" / "no-unjustified-critical.rego"
SBOMS = FIXTURES / "sbom"
VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"
SCAN_TRACKER = "https://ironsign.dev/attestation/scan-tracker/v1"


def test_attest_vuln_then_verify(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    image = new_image()
    report = client.attest(image.tag_ref, signer, predicate_type="vuln", predicate=SCANNERS / "trivy.json")
    assert isinstance(report, ironsign.AttestReport)
    assert report.digest == image.digest
    assert report.tag == image.digest.replace(":", "-") + ".att"
    assert report.predicate_type == VULN
    assert report.layer_digest.startswith("sha256:")
    assert report.warnings == []
    assert report.to_dict()["predicate_type"] == VULN

    result = client.verify_attestation(image.tag_ref, trust, policy, predicate_type="vuln")
    assert isinstance(result, ironsign.AttestationResult)
    assert result.digest == image.digest and result.repository == image.repo
    assert result.predicate_type == VULN
    assert result.rejected == []
    [att] = result.attestations
    assert att.signer_kind == "certificate"
    assert att.matched_identity == "signer@example.com"
    assert att.certificate is not None and att.certificate.emails == ["signer@example.com"]
    assert len(att.chain) == 3 and att.key_fingerprint is None
    assert att.layer_digest == report.layer_digest
    assert att.predicate_type == VULN
    statement = att.statement
    assert statement["predicateType"] == VULN
    assert statement["subject"][0]["digest"]["sha256"] == image.digest.removeprefix("sha256:")
    assert att.predicate["scanner"]["uri"].startswith("pkg:github/aquasecurity/trivy")
    trivy = json.loads((SCANNERS / "trivy.json").read_text())
    assert att.predicate["scanner"]["result"] == trivy
    assert result.statements == [statement]
    assert att.checks[0] == "envelope_type" and "subject_binding" in att.checks and "predicate_type" in att.checks
    d = result.to_dict()
    assert d["attestations"][0]["statement"] == statement
    assert json.loads(result.to_json(indent=2)) == d
    assert "AttestationResult(" in repr(result)


def test_predicate_as_dict_bytes_and_path(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    image = new_image()
    grype = json.loads((SCANNERS / "grype.json").read_text())
    client.attest(image.ref, signer, predicate_type="vuln", predicate=grype)
    client.attest(image.ref, signer, predicate_type="vuln", predicate=(SCANNERS / "grype.json").read_bytes())
    client.attest(image.ref, signer, predicate_type="vuln", predicate=str(SCANNERS / "grype.json"))
    result = client.verify_attestation(image.ref, trust, policy, predicate_type=VULN)
    assert len(result.attestations) == 3
    for a in result.attestations:
        assert a.predicate["scanner"]["uri"].startswith("pkg:github/anchore/grype")
        assert a.predicate["scanner"]["result"] == grype
    # replace= keeps only the new one of that type; a custom predicate is another type.
    client.attest(image.ref, signer, predicate={"a": 1}, predicate_type="https://example.com/p/v1")
    client.attest(image.ref, signer, predicate_type="vuln", predicate=grype, replace=True)
    assert len(client.verify_attestation(image.ref, trust, policy, predicate_type="vuln").attestations) == 1
    other = client.verify_attestation(image.ref, trust, policy, predicate_type="https://example.com/p/v1")
    assert other.attestations[0].predicate == {"a": 1}
    # download_attestations: the envelopes (unverified), filtered by type.
    envelopes = client.download_attestations(image.ref)
    assert len(envelopes) == 2
    vuln = client.download_attestations(image.ref, predicate_type="vuln")
    [envelope] = vuln
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(envelope["payload"]))["predicateType"] == VULN
    assert envelope["signatures"][0]["sig"]


def test_wrong_type_untrusted_root_and_unattested(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    pki: Path,
) -> None:
    image = new_image()
    with pytest.raises(ironsign.NoSignaturesError) as none:
        client.verify_attestation(image.ref, trust, policy, predicate_type="vuln")
    assert none.value.details["NoSignatures"]["kind"] == "attestations"

    client.attest(image.ref, signer, predicate_type="vuln", predicate=SCANNERS / "grype.json")
    with pytest.raises(ironsign.NoMatchingSignatureError) as wrong:
        client.verify_attestation(image.ref, trust, policy, predicate_type="scan-tracker")
    [rejection] = wrong.value.rejections
    assert rejection["code"] == "PREDICATE_TYPE_MISMATCH"
    assert rejection["reason"]["PredicateType"] == {"found": VULN, "expected": SCAN_TRACKER}

    other = ironsign.TrustRoot.from_pem_files(pki / "other-root.pem")
    with pytest.raises(ironsign.NoMatchingSignatureError) as untrusted:
        client.verify_attestation(image.ref, other, policy, predicate_type="vuln")
    assert "UntrustedChain" in untrusted.value.rejections[0]["reason"]["Certificate"]

    with pytest.raises(ironsign.NoMatchingSignatureError) as identity:
        client.verify_attestation(image.ref, trust, ironsign.Policy(identity="x@example.com"), predicate_type="vuln")
    assert identity.value.rejections[0]["code"] == "IDENTITY_MISMATCH"


def test_subject_mismatch(
    registry: str,
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    # An attestation of image A copied (manifest and blobs untouched) to image B's .att tag.
    a, b = make_images(registry, "py/subject", count=2)
    client.attest(a.ref, signer, predicate={"a": 1}, predicate_type="https://example.com/p/v1")
    repo = a.repo.split("/", 1)[1]
    accept = "application/vnd.oci.image.manifest.v1+json"
    tag_a, tag_b = (i.digest.replace(":", "-") + ".att" for i in (a, b))
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag_a}", headers={"Accept": accept})
    with urllib.request.urlopen(req) as r:
        manifest = r.read()
    put = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag_b}", data=manifest, method="PUT",
        headers={"Content-Type": accept},
    )  # fmt: skip
    urllib.request.urlopen(put).close()
    with pytest.raises(ironsign.NoMatchingSignatureError) as info:
        client.verify_attestation(b.ref, trust, policy, predicate_type="https://example.com/p/v1")
    assert info.value.rejections[0]["code"] == "SUBJECT_MISMATCH"


def test_rego_allow_and_deny(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    good, bad = new_image(), new_image()
    client.attest(good.ref, signer, predicate_type="scan-tracker", predicate=TRACKER / "justified.json")
    client.attest(bad.ref, signer, predicate_type="scan-tracker", predicate=TRACKER / "unjustified.json")
    # The policy as a path, a str path, source text and a RegoPolicy.
    for rego in (POLICY, str(POLICY), POLICY.read_text(), ironsign.RegoPolicy.from_file(POLICY)):
        result = client.verify_attestation(good.ref, trust, policy, predicate_type="scan-tracker", rego_policies=[rego])
        assert result.attestations[0].checks[-1] == "policy"
        with pytest.raises(ironsign.PolicyDeniedError) as info:
            client.verify_attestation(bad.ref, trust, policy, predicate_type="scan-tracker", rego_policies=[rego])
        e = info.value
        assert e.code == "POLICY_DENIED" and isinstance(e, ironsign.VerificationError)
        [denial] = e.denials
        assert denial["code"] == "POLICY_DENIED" and denial["index"] == 0
    # Without the policy, the unjustified report verifies: the signature is fine.
    client.verify_attestation(bad.ref, trust, policy, predicate_type="scan-tracker")
    assert ironsign.RegoPolicy("package signature\nallow = true\n", name="yes.rego").name == "yes.rego"


def test_predicate_and_policy_errors(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    tmp_path: Path,
) -> None:
    image = new_image()
    with pytest.raises(ironsign.PredicateError) as schema:
        client.attest(image.ref, signer, predicate_type="scan-tracker", predicate=TRACKER / "invalid.json")
    assert schema.value.code == "PREDICATE_SCHEMA_VIOLATION" and isinstance(schema.value, ironsign.InputError)
    assert "pointer" in schema.value.details["SchemaViolation"]
    with pytest.raises(ironsign.PredicateError) as scanner:
        client.attest(image.ref, signer, predicate_type="vuln", predicate={"matches": "?", "who": "knows"})
    assert scanner.value.code == "UNKNOWN_SCANNER"
    with pytest.raises(ironsign.PredicateError) as invalid:
        client.attest(image.ref, signer, predicate_type="vuln", predicate=b"not json")
    assert invalid.value.code == "INVALID_PREDICATE"
    with pytest.raises(ironsign.InputError) as bad_type:
        client.attest(image.ref, signer, predicate_type="no such type", predicate={})
    assert bad_type.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ironsign.InputError):
        client.attest(image.ref, signer, predicate={}, statement_version="v9")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.attest(image.ref, signer, predicate=42)  # type: ignore[arg-type]
    with pytest.raises(ironsign.InputError) as missing:
        client.attest(image.ref, signer, predicate=tmp_path / "missing.json")
    assert missing.value.code == "IO"
    with pytest.raises(ironsign.InvalidPolicyError) as rego:
        ironsign.RegoPolicy("package other\nallow = true\n")
    assert rego.value.code == "INVALID_POLICY"
    with pytest.raises(ironsign.InvalidPolicyError):
        client.verify_attestation(image.ref, trust, policy, rego_policies=["package signature\nallow {\n"])
    with pytest.raises(ironsign.InputError) as nofile:
        client.verify_attestation(image.ref, trust, policy, rego_policies=[tmp_path / "none.rego"])
    assert nofile.value.code == "IO"
    # Nothing was written by the failed calls.
    with pytest.raises(ironsign.NoSignaturesError):
        client.verify_attestation(image.ref, trust, policy, predicate_type="vuln")


def test_cosign_verifies_a_python_attestation(
    new_image: Callable[..., Image], client: ironsign.RegistryClient, signer: ironsign.Signer, pki: Path
) -> None:
    image = new_image()
    client.attest(image.tag_ref, signer, predicate_type="vuln", predicate=SCANNERS / "trivy.json")
    out = subprocess.run(
        [
            str(COSIGN), "verify-attestation", "--allow-http-registry", "--type", "vuln",
            "--certificate-chain", str(pki / "chain.pem"),
            "--certificate-identity", "signer@example.com",
            "--certificate-oidc-issuer-regexp", ".*",
            "--insecure-ignore-tlog", "--insecure-ignore-sct",
            image.ref,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    envelope = json.loads(out.stdout.splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == VULN
    assert statement["subject"][0]["digest"]["sha256"] == image.digest.removeprefix("sha256:")


def test_sbom_round_trip(
    new_image: Callable[..., Image],
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    tmp_path: Path,
) -> None:
    media_types = {
        "spdx-2.3.json": "text/spdx+json",
        "spdx-2.3.spdx": "text/spdx",
        "cyclonedx-1.6.json": "application/vnd.cyclonedx+json",
        "cyclonedx-1.6.xml": "application/vnd.cyclonedx+xml",
        "syft.json": "application/vnd.syft+json",
    }
    image = new_image()
    for name, media_type in media_types.items():
        report = client.attach_sbom(image.tag_ref, SBOMS / name)
        assert isinstance(report, ironsign.AttachReport)
        assert (report.digest, report.media_type) == (image.digest, media_type)
        assert report.size == (SBOMS / name).stat().st_size
        assert report.tag == image.digest.replace(":", "-") + ".sbom"
        sbom = client.download_sbom(image.ref)
        assert sbom.content == (SBOMS / name).read_bytes(), name
        assert sbom.media_type == media_type and sbom.layer_digest == report.layer_digest
        content, mt = sbom
        assert (content, mt) == (sbom.content, media_type)
    dest = tmp_path / "out.json"
    written = client.download_sbom(image.ref, destination=dest)
    assert written.content is None and written.path == str(dest)
    assert dest.read_bytes() == (SBOMS / "syft.json").read_bytes()
    assert written.to_dict()["size"] == dest.stat().st_size

    # Sign the .sbom manifest (cosign's --attachment sbom).
    signed = client.sign(image.ref, signer, attachment="sbom")
    sbom_tag = image.digest.replace(":", "-") + ".sbom"
    sbom_digest = client.digest_of(f"{image.repo}:{sbom_tag}")
    assert signed.signatures[0].digest == sbom_digest
    assert client.verify(f"{image.repo}@{sbom_digest}", trust, policy).digest == sbom_digest
    with pytest.raises(ironsign.InputError):
        client.sign(image.ref, signer, attachment="att")  # type: ignore[arg-type]


def test_sbom_format_errors(
    new_image: Callable[..., Image], client: ironsign.RegistryClient, tmp_path: Path
) -> None:
    image = new_image()
    with pytest.raises(ironsign.SbomFormatError) as mismatch:
        client.attach_sbom(image.ref, SBOMS / "cyclonedx-1.6.json", sbom_type="spdx")
    e = mismatch.value
    assert e.code == "SBOM_FORMAT_MISMATCH" and isinstance(e, ironsign.InputError)
    assert e.details["SbomFormatMismatch"]["detected"] == "CycloneDX JSON"
    with pytest.raises(ironsign.SbomFormatError):
        client.attach_sbom(image.ref, SBOMS / "cyclonedx-1.6.json", input_format="xml")
    client.attach_sbom(image.ref, SBOMS / "cyclonedx-1.6.json", sbom_type="cyclonedx", input_format="json")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ironsign.SbomFormatError) as unknown:
        client.attach_sbom(image.ref, tmp_path / "notes.txt")
    assert unknown.value.code == "UNKNOWN_SBOM_FORMAT"
    with pytest.raises(ironsign.InputError) as bad_arg:
        client.attach_sbom(image.ref, SBOMS / "syft.json", sbom_type="docx")  # type: ignore[arg-type]
    assert bad_arg.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ironsign.NoSignaturesError):
        client.download_sbom(new_image().ref)


def test_asyncio_equals_sync(
    new_image: Callable[..., Image],
    registry: str,
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    image = new_image()
    areg = ironsign.aio.RegistryClient(insecure_http=[registry], config_files=[])

    async def run() -> None:
        report = await areg.attest(image.ref, signer, predicate_type="vuln", predicate=SCANNERS / "grype.json")
        assert report.digest == image.digest
        results = await asyncio.gather(
            areg.verify_attestation(image.ref, trust, policy, predicate_type="vuln"),
            areg.verify_attestation(image.ref, trust, policy, predicate_type="vuln", rego_policies=[]),
        )
        sync = client.verify_attestation(image.ref, trust, policy, predicate_type="vuln")
        for r in results:
            assert r.attestations == sync.attestations and r.digest == sync.digest
        assert await areg.download_attestations(image.ref, predicate_type="vuln") == client.download_attestations(
            image.ref, predicate_type="vuln"
        )
        attached = await areg.attach_sbom(image.ref, SBOMS / "spdx-2.3.json")
        assert attached.media_type == "text/spdx+json"
        sbom = await areg.download_sbom(image.ref)
        assert sbom == client.download_sbom(image.ref)
        assert sbom.content == (SBOMS / "spdx-2.3.json").read_bytes()
        signed = await areg.sign(image.ref, signer, attachment="sbom")
        assert signed.signatures[0].added is True
        with pytest.raises(ironsign.PolicyDeniedError):
            await areg.verify_attestation(
                image.ref, trust, policy, predicate_type="vuln",
                rego_policies=["package signature\nallow { input.predicateType == \"nope\" }\n"],
            )  # fmt: skip
        with pytest.raises(ironsign.SbomFormatError):
            await areg.attach_sbom(image.ref, SBOMS / "spdx-2.3.json", sbom_type="syft")

    asyncio.run(run())
