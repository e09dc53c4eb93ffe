"""KMS keys: Signer.from_kms_uri against the local AWS KMS API server (scripts/kms-server) and a
real OpenBao dev server (scripts/vault-server); the real cosign verifies by the public key. The
provider configuration comes from the process environment, as in the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ironsign
from conftest import COSIGN, SCRIPTS, Image, run

PROVIDER_VARIABLES = [
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "VAULT_ADDR", "VAULT_TOKEN", "VAULT_CACERT", "VAULT_SKIP_VERIFY",
]  # fmt: skip


@pytest.fixture(scope="module")
def kms_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("kms")
    url = run(SCRIPTS / "kms-server", "start", state).split()[0]
    try:
        yield url
    finally:
        run(SCRIPTS / "kms-server", "stop", state)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    state = tmp_path_factory.mktemp("vault")
    address, token = run(SCRIPTS / "vault-server", "start", state).split()
    try:
        yield address, token
    finally:
        run(SCRIPTS / "vault-server", "stop", state)


@pytest.fixture
def provider_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[dict[str, str]], None]:
    """Sets exactly these provider variables in this process (the others removed)."""

    def set_env(values: dict[str, str]) -> None:
        for name in PROVIDER_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def aws(url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_KMS": url, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip


def cosign_verify(image: Image, public_pem: str, tmp_path: Path) -> None:
    key = tmp_path / "kms.pub"
    key.write_text(public_pem)
    out = subprocess.run(
        [str(COSIGN), "verify", "--allow-http-registry", "--key", str(key), "--insecure-ignore-tlog", image.ref],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "RSA_3072"])
def test_awskms_signature_verifies_with_cosign(
    spec: str,
    kms_url: str,
    provider_env: Callable[[dict[str, str]], None],
    client: ironsign.RegistryClient,
    new_image: Callable[..., Image],
    tmp_path: Path,
) -> None:
    alias = f"alias/py-{spec.lower().replace('_', '-')}"
    run(SCRIPTS / "kms-server", "create-key", kms_url, spec, alias)
    provider_env(aws(kms_url))
    signer = ironsign.Signer.from_kms_uri(f"awskms:///{alias}")
    image = new_image()
    client.sign(image.ref, signer, annotations={"via": "python-kms"})
    cosign_verify(image, signer.public_key_pem, tmp_path)
    trust = ironsign.TrustRoot.from_public_key_pem(signer.public_key_pem.encode())
    result = client.verify(image.ref, trust, ironsign.Policy(annotations={"via": "python-kms"}))
    assert result.signatures[0].payload.optional == {"via": "python-kms"}


def test_awskms_errors_are_typed(
    kms_url: str, provider_env: Callable[[dict[str, str]], None]
) -> None:
    provider_env(aws(kms_url))
    cases = [
        ("awskms:///alias/py-absent", "KMS_KEY_NOT_FOUND"),
        ("awskms:///not-a-key-id", "KEY_PARSE"),
    ]
    key_id = run(SCRIPTS / "kms-server", "create-key", kms_url, "ECC_NIST_P256", "alias/py-disabled").strip()
    run(SCRIPTS / "kms-server", "disable-key", kms_url, key_id)
    cases.append(("awskms:///alias/py-disabled", "KMS_KEY_DISABLED"))
    for uri, code in cases:
        with pytest.raises(ironsign.KeyMaterialError) as info:
            ironsign.Signer.from_kms_uri(uri)
        assert info.value.code == code, (uri, str(info.value))
    provider_env(aws(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_kms_uri("awskms:///alias/py-disabled")
    assert info.value.code == "KMS_UNREACHABLE"


def test_vault_transit_signature_verifies_with_cosign(
    vault: tuple[str, str],
    provider_env: Callable[[dict[str, str]], None],
    client: ironsign.RegistryClient,
    new_image: Callable[..., Image],
    tmp_path: Path,
) -> None:
    address, token = vault
    request = urllib.request.Request(
        f"{address}/v1/transit/keys/py-signer", data=json.dumps({"type": "ecdsa-p256"}).encode(),
        method="POST", headers={"X-Vault-Token": token},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=10).read()
    provider_env({"VAULT_ADDR": address, "VAULT_TOKEN": token})
    signer = ironsign.Signer.from_kms_uri("hashivault://py-signer")
    image = new_image()
    client.sign(image.ref, signer)
    cosign_verify(image, signer.public_key_pem, tmp_path)
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_kms_uri("hashivault://py-absent")
    assert info.value.code == "KMS_KEY_NOT_FOUND"
    provider_env({"VAULT_ADDR": address, "VAULT_TOKEN": "wrong"})
    with pytest.raises(ironsign.KeyMaterialError) as info:
        ironsign.Signer.from_kms_uri("hashivault://py-signer")
    assert info.value.code == "KMS_ACCESS_DENIED"


def test_awskms_key_with_a_certificate_without_code_signing(
    kms_url: str,
    provider_env: Callable[[dict[str, str]], None],
    pki: Path,
    ironsign_bin: Path,
    tmp_path: Path,
) -> None:
    """The program's setup: a KMS key and a DoD-shaped certificate (serverAuth/clientAuth) issued
    from a CSR the KMS signed: accepted with a finding, refused with strict_eku; another key's
    certificate is refused."""
    alias = "alias/py-dod"
    run(SCRIPTS / "kms-server", "create-key", kms_url, "ECC_NIST_P256", alias)
    provider_env(aws(kms_url))
    uri = f"awskms:///{alias}"
    csr, extensions, cert = tmp_path / "kms.csr", tmp_path / "extensions.cnf", tmp_path / "kms.pem"
    run(ironsign_bin, "csr", "--key", uri, "--common-name", "pipeline.example.mil", "--output-file", csr)
    extensions.write_text(
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = DNS:pipeline.example.mil\n"
    )
    run("openssl", "x509", "-req", "-in", csr, "-CA", pki / "dod-inter.pem", "-CAkey", pki / "dod-inter.key",
        "-days", "30", "-extfile", extensions, "-out", cert)  # fmt: skip
    chain = pki / "dod-chain.pem"
    signer = ironsign.Signer.from_kms_uri(uri, certificate=cert, chain=chain)
    assert [f["code"] for f in signer.findings] == ["NO_CODE_SIGNING_EKU"]
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.Signer.from_kms_uri(uri, certificate=cert, chain=chain, strict_eku=True)
    assert info.value.code == "CERT_NO_CODE_SIGNING"
    with pytest.raises(ironsign.CertificateError) as info:
        ironsign.Signer.from_kms_uri(uri, certificate=pki / "dod-leaf.pem", chain=chain)
    assert info.value.code == "CERT_KEY_MISMATCH"
