"""The GIL is released during blocking calls, and the asyncio flavour gives the sync results."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ironsign
import ironsign.aio
from conftest import Image, make_images


def stable(result: ironsign.VerificationResult) -> dict[str, Any]:
    d = result.to_dict()
    d.pop("verified_at")
    return d


def held_fraction(call: Callable[[], object], times: int) -> float:
    """Runs `call` `times` times while a pure-Python thread ticks (and yields the GIL after each
    tick). Returns the fraction of the time spent inside the calls during which the ticking thread
    made no progress: near 1 for a call that keeps the GIL (the ticker cannot preempt native
    code), near 0 for one that releases it."""
    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0)

    windows: list[tuple[float, float]] = []
    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.01)
        for _ in range(times):
            start = time.perf_counter()
            call()
            windows.append((start, time.perf_counter()))
    finally:
        stop.set()
        thread.join()
    held = total = 0.0
    for a, b in windows:
        inside = [a] + [t for t in ticks if a < t < b] + [b]
        held += max(y - x for x, y in zip(inside, inside[1:]))
        total += b - a
    return held / total


def test_the_gil_probe_sees_a_call_that_holds_the_gil() -> None:
    # Control: sorting floats is native code that keeps the GIL throughout.
    data = [random.random() for _ in range(200_000)]
    assert held_fraction(lambda: sorted(data), 5) > 0.8


def assert_released(fraction: float) -> None:
    assert fraction < 0.3, f"the GIL was held for {fraction:.0%} of the calls"


def assert_released_in_one_of(measure: Callable[[], float], attempts: int = 8) -> None:
    """`assert_released` on the best of a few measurements: on a loaded machine the OS may not
    schedule the ticking thread during a call whatever the GIL does; a call that holds the GIL
    never lets it tick."""
    fractions = []
    for _ in range(attempts):
        fractions.append(measure())
        if fractions[-1] < 0.3:
            return
    assert_released(min(fractions))


def test_gil_is_released_during_verify_and_sign(
    registry: str,
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    images = make_images(registry, "py/gil", count=4)
    pending = list(images)
    assert_released(held_fraction(lambda: client.sign(pending.pop().ref, signer), len(images)))
    refs = [i.tag_ref for i in images] * 6
    assert_released(held_fraction(lambda: client.verify(refs.pop(), trust, policy), len(refs)))

    fetched = client.fetch_signatures(images[0].ref)
    verifier = ironsign.Verifier(trust)
    assert_released_in_one_of(lambda: held_fraction(lambda: verifier.verify(fetched, policy), 20))


def test_gil_is_released_while_a_cosign_key_decrypts(tmp_path: Path) -> None:
    private_pem, _ = ironsign.generate_key_pair("pw")
    (tmp_path / "cosign.key").write_bytes(private_pem)
    assert_released(
        held_fraction(lambda: ironsign.Signer.from_key_file(tmp_path / "cosign.key", password="pw"), 3)
    )


def test_asyncio_flavour_equals_sync(
    registry: str,
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
    new_image: Callable[..., Image],
) -> None:
    images = make_images(registry, "py/aio", count=4)
    unsigned = new_image()

    async def main() -> None:
        areg = ironsign.aio.RegistryClient(insecure_http=[registry], config_files=[])
        assert "AsyncRegistryClient" in repr(areg)
        reports = await asyncio.gather(*(areg.sign(i.ref, signer, annotations={"n": str(n)}) for n, i in enumerate(images)))
        assert [r.signatures[0].digest for r in reports] == [i.digest for i in images]
        assert all(r.signatures[0].added for r in reports)

        results = await asyncio.gather(*(areg.verify(i.tag_ref, trust, policy) for i in images))
        for image, result in zip(images, results):
            assert stable(result) == stable(client.verify(image.tag_ref, trust, policy))
            assert result.digest == image.digest

        assert await areg.digest_of(images[0].tag_ref) == client.digest_of(images[0].tag_ref)
        fetched = await areg.fetch_signatures(images[0].ref)
        assert fetched == client.fetch_signatures(images[0].ref)
        payload = await areg.generate_payload(images[0].ref)
        assert payload == client.generate_payload(images[0].ref)

        # Errors are the same classes.
        try:
            await areg.verify(unsigned.ref, trust, policy)
        except ironsign.NoSignaturesError as e:
            assert e.code == "NO_SIGNATURES"
        else:
            raise AssertionError("no error")
        try:
            await areg.verify(images[0].ref, trust, ironsign.Policy(identity="x@example.com"))
        except ironsign.NoMatchingSignatureError:
            pass
        else:
            raise AssertionError("no error")
        try:
            await areg.verify("bad::ref", trust, policy)
        except ironsign.InputError:
            pass
        else:
            raise AssertionError("no error")

        # The event loop keeps running while requests are in flight.
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.gather(*(areg.verify(i.ref, trust, policy) for i in images * 3))
        task.cancel()
        assert ticks > 0

    asyncio.run(main())


def test_gil_is_released_during_attest_verify_attestation_and_sbom(
    registry: str,
    client: ironsign.RegistryClient,
    signer: ironsign.Signer,
    trust: ironsign.TrustRoot,
    policy: ironsign.Policy,
) -> None:
    from conftest import ROOT

    fixtures = ROOT / "ironsign-cli" / "tests" / "fixtures"
    rego = [ironsign.RegoPolicy.from_file(fixtures / "policies" / "no-unjustified-critical.rego")]
    refs = itertools.cycle([i.ref for i in make_images(registry, "py/gil-att", count=4)])

    def attest() -> None:
        client.attest(next(refs), signer, predicate_type="scan-tracker",
                      predicate=fixtures / "tracker" / "justified.json")  # fmt: skip

    def verify_attestation() -> None:
        client.verify_attestation(next(refs), trust, policy, predicate_type="scan-tracker", rego_policies=rego)

    def attach_sbom() -> None:
        client.attach_sbom(next(refs), fixtures / "sbom" / "syft.json")

    assert_released_in_one_of(lambda: held_fraction(attest, 4))
    assert_released_in_one_of(lambda: held_fraction(verify_attestation, 16))
    assert_released_in_one_of(lambda: held_fraction(attach_sbom, 4))
