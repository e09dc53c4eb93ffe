"""examples/python/pipeline.py, run as the pipeline runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, make_images

PIPELINE = ROOT / "examples" / "python" / "pipeline.py"


def run_pipeline(pki: Path, registry: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PIPELINE), "--key", str(pki / "leaf.key"), "--certificate", str(pki / "leaf.pem"),
         "--chain", str(pki / "chain.pem"), "--root", str(pki / "root.pem"), "--insecure-http", registry, *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_pipeline_signs_and_verifies(pki: Path, registry: str) -> None:
    images = make_images(registry, "py/pipeline", count=2)
    out = run_pipeline(pki, registry, "--identity", "signer@example.com", "--annotation", "build=123",
                       *[i.tag_ref for i in images])  # fmt: skip
    assert out.returncode == 0, out.stderr
    for image in images:
        assert f"signed: {image.tag_ref} ({image.digest})" in out.stdout
        assert f"verified: {image.repo}@{image.digest}" in out.stdout
    assert "signed by CN=Ironsign Test Signer" in out.stdout
    assert "annotations: {'build': '123'}" in out.stdout

    again = run_pipeline(pki, registry, "--identity", "signer@example.com", "--annotation", "build=123", "--json",
                         images[0].tag_ref)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"already signed: {images[0].tag_ref}" in again.stdout
    doc = json.loads(again.stdout[again.stdout.index("[") :])
    assert doc[0]["digest"] == images[0].digest


def test_pipeline_refuses_the_wrong_identity(pki: Path, registry: str) -> None:
    [image] = make_images(registry, "py/pipeline-bad")
    out = run_pipeline(pki, registry, "--identity", "ironbank@example.mil", image.tag_ref)
    assert out.returncode == 1
    assert "NOT TRUSTED (NO_MATCHING_SIGNATURE)" in out.stderr


def test_pipeline_full_job(pki: Path, registry: str) -> None:
    fixtures = ROOT / "ironsign-cli" / "tests" / "fixtures"
    [image] = make_images(registry, "py/pipeline-full")
    args = ["--identity", "signer@example.com", "--scan", str(fixtures / "scanners" / "trivy.json"),
            "--sbom", str(fixtures / "sbom" / "spdx-2.3.json"), image.tag_ref]  # fmt: skip
    out = run_pipeline(pki, registry, *args)
    assert out.returncode == 0, out.stderr
    assert f"signed: {image.tag_ref} ({image.digest})" in out.stdout
    assert f"attested: {image.tag_ref} (https://cosign.sigstore.dev/attestation/vuln/v1)" in out.stdout
    assert f"sbom: {image.tag_ref} (text/spdx+json" in out.stdout
    assert f"verified: {image.repo}@{image.digest}" in out.stdout
    assert f"attestation verified: {image.repo}@{image.digest}" in out.stdout
    assert "scanner pkg:github/aquasecurity/trivy" in out.stdout

    # A Grype report under a policy that denies it: not trusted, exit 1.
    deny = ROOT / "ironsign-py" / "tests" / "deny.rego"
    deny_args = ["--identity", "signer@example.com", "--scan", str(fixtures / "scanners" / "grype.json"),
                 "--policy", str(deny), image.tag_ref]  # fmt: skip
    denied = run_pipeline(pki, registry, *deny_args)
    assert denied.returncode == 1, denied.stderr
    assert "NOT TRUSTED (POLICY_DENIED)" in denied.stderr
