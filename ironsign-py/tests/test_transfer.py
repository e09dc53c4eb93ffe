"""copy, save and load (with their tar variant) and gc_plan/gc_apply, blocking and asyncio."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import ironsign
import ironsign.aio
from conftest import Image


def repo(registry: str, name: str) -> str:
    return f"{registry}/py/{name}-{uuid.uuid4().hex[:8]}"


def test_copy_keeps_digests_and_a_rerun_copies_nothing(
    signed_image: Image,
    client: ironsign.RegistryClient,
    registry: str,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    dst = repo(registry, "copy")
    report = client.copy(signed_image.tag_ref, dst)
    assert isinstance(report, ironsign.TransferReport)
    assert report.digest == signed_image.digest
    assert report.tag == "t"
    assert report.manifests_copied == 2 and report.manifests_skipped == 0
    assert report.blobs_mounted > 0 and report.blobs_copied == 0
    assert [a["kind"] for a in report.attachments] == ["signature"]
    assert report.to_dict()["manifests"] == {"copied": 2, "skipped": 0}
    result = client.verify(f"{dst}:t", trust, policy)
    assert result.digest == signed_image.digest
    again = client.copy(signed_image.tag_ref, dst)
    assert (again.manifests_copied, again.blobs_copied, again.bytes_copied) == (0, 0, 0)
    # only= copies the signature alone; a bad kind is an input error.
    only = client.copy(signed_image.tag_ref, repo(registry, "only"), only=["sig"])
    assert not only.image and only.tag is None
    with pytest.raises(ironsign.InputError) as e:
        client.copy(signed_image.tag_ref, dst, only=["bogus"])  # type: ignore[list-item]
    assert e.value.code == "INVALID_ARGUMENT"


def test_save_and_load_through_a_directory_and_a_tar(
    signed_image: Image,
    client: ironsign.RegistryClient,
    registry: str,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    tmp_path: Path,
) -> None:
    saved = client.save(signed_image.tag_ref, dir=tmp_path / "layout")
    assert saved.digest == signed_image.digest
    client.verify(f"oci:{tmp_path / 'layout'}:t", trust, policy)
    dst = repo(registry, "loaded")
    loaded = client.load(dst, dir=tmp_path / "layout")
    assert (loaded.digest, loaded.tag) == (signed_image.digest, "t")
    client.verify(f"{dst}:t", trust, policy)
    client.save(signed_image.ref, tar=tmp_path / "image.tar")
    from_tar = client.load(f"{dst}:from-tar", tar=tmp_path / "image.tar")
    assert from_tar.tag == "from-tar" and from_tar.manifests_copied == 0
    with pytest.raises(ironsign.InputError):
        client.save(signed_image.ref)


def test_a_tampered_blob_is_refused(
    signed_image: Image, client: ironsign.RegistryClient, registry: str, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    client.save(signed_image.tag_ref, dir=layout)
    manifest = client.list_artifacts(f"oci:{layout}:t").digest
    blobs = sorted((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    largest = blobs[-1]
    assert largest.name != manifest.split(":")[1]
    data = bytearray(largest.read_bytes())
    data[5] ^= 1
    largest.write_bytes(bytes(data))
    with pytest.raises(ironsign.RegistryError) as e:
        client.load(repo(registry, "tampered"), dir=layout)
    assert e.value.code == "REGISTRY_DIGEST_MISMATCH"
    assert largest.name in str(e.value)


def delete_manifest(reference: str, digest: str) -> None:
    host, name = reference.split("/", 1)
    request = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{digest}", method="DELETE")
    urllib.request.urlopen(request).close()


def test_gc_plan_then_apply(signed_image: Image, client: ironsign.RegistryClient) -> None:
    delete_manifest(signed_image.repo, signed_image.digest)
    plan = client.gc_plan([signed_image.repo])
    assert isinstance(plan, ironsign.GcPlan)
    orphans = plan.repositories[0]["orphans"]
    assert [o["reason"] for o in orphans] == ["subject_missing"]
    assert plan.summary["orphans"] == 1 and plan.errors == []
    report = client.gc_apply(plan)
    assert report.summary["deleted"] == 1 and report.failed == []
    assert client.gc_plan([signed_image.repo]).summary["orphans"] == 0
    with pytest.raises(ironsign.InputError):
        client.gc_plan([signed_image.tag_ref])


def test_asyncio_flavour(
    signed_image: Image, registry: str, new_image: Callable[..., Image], tmp_path: Path
) -> None:
    async def main() -> None:
        aio = ironsign.aio.RegistryClient(insecure_http=[registry], config_files=[])
        dst = repo(registry, "aio")
        report = await aio.copy(signed_image.tag_ref, dst)
        assert report.digest == signed_image.digest
        saved = await aio.save(signed_image.tag_ref, dir=tmp_path / "aio")
        loaded = await aio.load(f"{dst}:again", dir=tmp_path / "aio")
        assert saved.digest == loaded.digest == signed_image.digest
        plan = await aio.gc_plan([dst])
        assert plan.summary["orphans"] == 0
        applied = await aio.gc_apply(plan)
        assert applied.summary["deleted"] == 0

    asyncio.run(main())
