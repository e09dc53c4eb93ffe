"""Interoperability with the real cosign, both ways."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import ironsign
from conftest import COSIGN, Image


def test_cosign_verifies_a_python_signature(
    new_image: Callable[..., Image], client: ironsign.RegistryClient, signer: ironsign.Signer, pki: Path
) -> None:
    image = new_image()
    client.sign(image.tag_ref, signer, annotations={"build": "123"})
    out = subprocess.run(
        [
            str(COSIGN), "verify", "--allow-http-registry",
            "--certificate-chain", str(pki / "chain.pem"),
            "--certificate-identity", "signer@example.com",
            "--certificate-oidc-issuer-regexp", ".*",
            "--insecure-ignore-tlog", "--insecure-ignore-sct",
            "-a", "build=123",
            image.ref,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    [payload] = json.loads(out.stdout)
    assert payload["critical"]["image"]["docker-manifest-digest"] == image.digest


def test_python_verifies_a_cosign_signature(
    new_image: Callable[..., Image], client: ironsign.RegistryClient, tmp_path: Path
) -> None:
    private_pem, public_pem = ironsign.generate_key_pair("pw")
    (tmp_path / "cosign.key").write_bytes(private_pem)
    image = new_image()
    out = subprocess.run(
        [str(COSIGN), "sign", "--key", str(tmp_path / "cosign.key"), "--allow-http-registry",
         "--tlog-upload=false", "--yes", "-a", "by=cosign", image.ref],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COSIGN_PASSWORD": "pw"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    trust = ironsign.TrustRoot.from_public_key_pem(public_pem)
    result = client.verify(image.ref, trust, ironsign.Policy(annotations={"by": "cosign"}))
    assert result.signatures[0].payload.optional == {"by": "cosign"}
