"""Registry credentials: explicit `auth=`, and the Docker/podman files the binding finds from the
environment (DOCKER_CONFIG, REGISTRY_AUTH_FILE) when `config_files` is not given."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import ironsign
from conftest import SCRIPTS, make_images, run

USER, PASSWORD = "pipeline", "s3cret-pw"


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[str]:
    name = f"py-auth-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    addr = run(SCRIPTS / "registry", "start", name, "--htpasswd", f"{USER}:{PASSWORD}").strip()
    try:
        yield addr
    finally:
        run(SCRIPTS / "registry", "stop", name)


def docker_config(directory: Path, registry: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    path = directory / "config.json"
    path.write_text(json.dumps({"auths": {registry: {"auth": token}}}))
    return path


def test_anonymous_access_is_refused(auth_registry: str) -> None:
    reg = ironsign.RegistryClient(config_files=[])
    with pytest.raises(ironsign.RegistryError) as info:
        reg.digest_of(f"{auth_registry}/py/auth:v1")
    assert info.value.code == "REGISTRY_UNAUTHORIZED"


def test_explicit_credentials(auth_registry: str) -> None:
    reg = ironsign.RegistryClient(auth=(USER, PASSWORD), config_files=[])
    with pytest.raises(ironsign.ImageNotFoundError):
        reg.digest_of(f"{auth_registry}/py/auth:v1")
    wrong = ironsign.RegistryClient(auth=(USER, "wrong"), config_files=[])
    with pytest.raises(ironsign.RegistryError) as info:
        wrong.digest_of(f"{auth_registry}/py/auth:v1")
    assert info.value.code == "REGISTRY_UNAUTHORIZED"


def test_docker_config_from_the_environment(
    auth_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    docker_config(tmp_path / "docker", auth_registry)
    with pytest.raises(ironsign.ImageNotFoundError):
        ironsign.RegistryClient().digest_of(f"{auth_registry}/py/auth:v1")
    # config_files=[] means anonymous, whatever the environment says.
    with pytest.raises(ironsign.RegistryError) as info:
        ironsign.RegistryClient(config_files=[]).digest_of(f"{auth_registry}/py/auth:v1")
    assert info.value.code == "REGISTRY_UNAUTHORIZED"


def test_podman_auth_file_from_the_environment(
    auth_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(docker_config(tmp_path / "podman", auth_registry)))
    with pytest.raises(ironsign.ImageNotFoundError):
        ironsign.RegistryClient().digest_of(f"{auth_registry}/py/auth:v1")
    # An explicit list of files replaces the environment's.
    explicit = docker_config(tmp_path / "explicit", auth_registry)
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    with pytest.raises(ironsign.ImageNotFoundError):
        ironsign.RegistryClient(config_files=[explicit]).digest_of(f"{auth_registry}/py/auth:v1")


def test_sign_and_verify_with_credentials(
    auth_registry: str,
    registry: str,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    # scripts/make-test-image speaks anonymous HTTP only: copy one of its images into the
    # authenticated registry with basic auth, then sign and verify it there.
    import urllib.request

    [image] = make_images(registry, "py/auth-src")
    src_manifest = urllib.request.urlopen(
        urllib.request.Request(
            f"http://{registry}/v2/py/auth-src/manifests/{image.digest}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
    ).read()
    auth_header = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    for blob in [json.loads(src_manifest)["config"]] + json.loads(src_manifest)["layers"]:
        data = urllib.request.urlopen(f"http://{registry}/v2/py/auth-src/blobs/{blob['digest']}").read()
        post = urllib.request.Request(
            f"http://{auth_registry}/v2/py/auth/blobs/uploads/", method="POST", data=b"", headers=auth_header
        )
        location = urllib.request.urlopen(post).headers["Location"]
        if location.startswith("/"):
            location = f"http://{auth_registry}{location}"
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(
            f"{location}{sep}digest={blob['digest']}", method="PUT", data=data,
            headers={**auth_header, "Content-Type": "application/octet-stream"},
        )  # fmt: skip
        urllib.request.urlopen(put).close()
    put = urllib.request.Request(
        f"http://{auth_registry}/v2/py/auth/manifests/v1", method="PUT", data=src_manifest,
        headers={**auth_header, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )  # fmt: skip
    urllib.request.urlopen(put).close()

    reg = ironsign.RegistryClient(auth=(USER, PASSWORD), config_files=[])
    ref = f"{auth_registry}/py/auth:v1"
    assert reg.sign(ref, signer).signatures[0].digest == image.digest
    assert reg.verify(ref, trust, policy).digest == image.digest


@pytest.fixture(scope="module")
def tls_registry(pki: Path) -> Iterator[str]:
    name = f"py-tls-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    addr = run(SCRIPTS / "registry", "start", name, "--tls", pki / "registry-tls.pem", pki / "registry-tls.key").strip()
    try:
        yield addr
    finally:
        run(SCRIPTS / "registry", "stop", name)


def test_extra_ca_file(pki: Path, tls_registry: str) -> None:
    ref = f"{tls_registry}/py/tls:v1"
    # The registry's certificate is issued by a private CA: unknown without ca_file.
    with pytest.raises(ironsign.RegistryError) as info:
        ironsign.RegistryClient(config_files=[]).digest_of(ref)
    assert info.value.code == "REGISTRY_TRANSPORT"
    with pytest.raises(ironsign.ImageNotFoundError):
        ironsign.RegistryClient(ca_file=pki / "tls-ca.pem", config_files=[]).digest_of(ref)
    with pytest.raises(ironsign.ImageNotFoundError):
        ironsign.RegistryClient(ca_file=[pki / "root.pem", pki / "tls-ca.pem"], config_files=[]).digest_of(ref)


def test_request_timeout_bounds_a_registry_that_never_answers() -> None:
    import socket
    import threading

    # Accepts connections and never answers: only the request timeout ends the call.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    addr = f"127.0.0.1:{server.getsockname()[1]}"
    try:
        client = ironsign.RegistryClient(config_files=[], timeout=1.5)
        with pytest.raises(ironsign.RegistryError) as caught:
            client.digest_of(f"{addr}/silent/app:v1")
        assert caught.value.code == "REGISTRY_TRANSPORT"
        assert "timed out" in str(caught.value) or "timeout" in str(caught.value)
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        server.close()


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan")])
def test_request_timeout_must_be_positive(seconds: float) -> None:
    with pytest.raises(ironsign.InputError) as caught:
        ironsign.RegistryClient(config_files=[], timeout=seconds)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "timeout" in str(caught.value)
