"""Fixtures: a real registry (scripts/registry, 127.0.0.1 only, stopped by PID at teardown), the
test PKI (scripts/gen-test-pki) and fresh images (scripts/make-test-image)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ironsign

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
TOOLS = Path(os.environ.get("IRONSIGN_TOOLS", Path.home() / ".cache/ironsign/tools"))
COSIGN = Path(os.environ.get("IRONSIGN_COSIGN", TOOLS / "cosign-v2.6.5/cosign"))


def run(*args: str | os.PathLike[str], **kwargs: object) -> str:
    out = subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    return str(out.stdout)


@dataclass(frozen=True)
class Image:
    """A pushed image: `tag_ref` is REG/REPO:TAG, `digest` sha256:..., `ref` REG/REPO@digest."""

    tag_ref: str
    digest: str

    @property
    def repo(self) -> str:
        return self.tag_ref.rsplit(":", 1)[0]

    @property
    def ref(self) -> str:
        return f"{self.repo}@{self.digest}"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    run(SCRIPTS / "gen-test-pki", d)
    return d


@pytest.fixture(scope="session")
def tsa_url(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local RFC 3161 timestamp authority (scripts/tsa): POST to {url}/ecdsa or {url}/rsa."""
    state = tmp_path_factory.mktemp("tsa")
    url = run(SCRIPTS / "tsa", "start", state, pki).strip()
    try:
        yield url
    finally:
        run(SCRIPTS / "tsa", "stop", state)


@pytest.fixture(scope="session")
def ironsign_bin() -> Path:
    """The CLI of this build (run-tests builds it): IRONSIGN_BIN, else $CARGO_TARGET_DIR/debug/ironsign."""
    explicit = os.environ.get("IRONSIGN_BIN")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = Path(explicit) if explicit else target / "debug" / "ironsign"
    assert path.exists(), f"{path} is missing: cargo build -p ironsign-cli (run-tests does)"
    return path


@pytest.fixture(scope="session")
def registry() -> Iterator[str]:
    name = f"py-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    addr = run(SCRIPTS / "registry", "start", name).strip()
    assert addr.startswith("127.0.0.1:")
    try:
        yield addr
    finally:
        run(SCRIPTS / "registry", "stop", name)


def make_images(registry: str, repo: str, count: int = 0, platforms: str = "") -> list[Image]:
    args: list[str] = [f"{registry}/{repo}:t"]
    if count:
        args += ["--count", str(count)]
    if platforms:
        args += ["--platforms", platforms]
    images = []
    for line in run(SCRIPTS / "make-test-image", *args).split():
        tag_ref, digest = line.split("@")
        images.append(Image(tag_ref, digest))
    return images


@pytest.fixture
def new_image(registry: str) -> Callable[..., Image]:
    def make(platforms: str = "") -> Image:
        return make_images(registry, f"py/{uuid.uuid4().hex[:10]}", platforms=platforms)[0]

    return make


@pytest.fixture(scope="session")
def client(registry: str) -> ironsign.RegistryClient:
    # No credential files: the test registry is anonymous.
    return ironsign.RegistryClient(insecure_http=[registry], config_files=[])


@pytest.fixture(scope="session")
def signer(pki: Path) -> ironsign.Signer:
    return ironsign.Signer.from_key_file(pki / "leaf.key", certificate=pki / "leaf.pem", chain=pki / "chain.pem")


@pytest.fixture(scope="session")
def trust(pki: Path) -> ironsign.TrustRoot:
    return ironsign.TrustRoot.from_pem_files(roots=[pki / "root.pem"], intermediates=[pki / "inter.pem"])


@pytest.fixture(scope="session")
def policy() -> ironsign.Policy:
    return ironsign.Policy(identity="signer@example.com")


@pytest.fixture
def signed_image(
    new_image: Callable[..., Image], client: ironsign.RegistryClient, signer: ironsign.Signer
) -> Image:
    image = new_image()
    client.sign(image.ref, signer)
    return image
