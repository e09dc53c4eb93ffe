#!/usr/bin/env python3
"""One run, one registry: ironsign against cosign v2.6.5 verifying N signed images, and the
registry requests of each operation counted from the registry's access log, cosign's beside
ironsign's. Prints the machine's load average before and after (a loaded machine slows cosign's
per-process start-up most: compare runs only at similar load).

  bench/verify_scale.py [--images 200] [--profile release|debug] [--workers 16] [--out FILE]

Rows (all by digest unless said, all against one private Debian distribution 2.8 on loopback):
  - ironsign CLI, one process verifying all N images (`ironsign verify IMG...`), by tag and digest;
  - the library's batch API (`examples/rust/verify_many.rs`: one client, one verifier, N images);
  - cosign, one process per image, one after the other (as pipelines call it);
  - cosign, one process per image, 2 at a time (fair to it on 2 cores).
Then the requests per operation on a fresh image: sign, verify by tag and by digest, attest,
verify-attestation, tree; for ironsign and cosign.

Needs scripts/install-deps run once (cosign, the registry). Builds ironsign and the example with
the chosen profile into $CARGO_TARGET_DIR. Timed figures are never asserted anywhere.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/ironsign/target"))
TOOLS = Path(os.environ.get("IRONSIGN_TOOLS", Path.home() / ".cache/ironsign/tools"))
REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/\S*) HTTP/[\d.]+" (\d+)')
IDENTITY = "signer@example.com"
PASSWORD = "bench"


def sh(args: list[str], env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        sys.exit(f"command failed: {' '.join(map(str, args))}\n{res.stderr}")
    return res


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Log:
    """The registry's access log: requests made since a mark."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[tuple[str, str, str]]:
        text = self.path.read_text(errors="replace") if self.path.exists() else ""
        return [m.groups() for m in REQUEST.finditer(text)]

    def during(self, fn) -> tuple[float, list[tuple[str, str, str]]]:
        before = len(self.lines())
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        seen = len(self.lines())
        for _ in range(20):  # the access log line is written as the response completes
            time.sleep(0.15)
            if len(self.lines()) == seen:
                break
            seen = len(self.lines())
        return seconds, self.lines()[before:]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--profile", choices=["release", "debug"], default="release")
    ap.add_argument("--workers", type=int, default=16, help="ironsign's concurrency (CLI --max-workers, batch)")
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = ap.parse_args()
    n = args.images
    if n < 1:
        sys.exit("--images must be at least 1")

    profile_flag = ["--release"] if args.profile == "release" else []
    env_target = {"CARGO_TARGET_DIR": str(TARGET)}
    # --workspace, as the tests build: one package alone unifies features differently and
    # rebuilds dependencies.
    sh(["cargo", "build", "--quiet", *profile_flag, "--workspace", "--bins"], env=env_target)
    sh(["cargo", "build", "--quiet", *profile_flag, "--workspace", "--example", "verify_many"], env=env_target)
    ironsign = TARGET / args.profile / "ironsign"
    batch = TARGET / args.profile / "examples" / "verify_many"
    cosign = TOOLS / "cosign-v2.6.5" / "cosign"
    if not cosign.exists():
        sys.exit(f"{cosign} missing: run scripts/install-deps")

    state = Path(tempfile.mkdtemp(prefix="ironsign-bench."))
    reg_env = {"IRONSIGN_STATE": str(state)}
    addr = sh([SCRIPTS / "registry", "start", "bench"], env=reg_env).stdout.strip()
    log = Log(state / "bench" / "registry.log")
    pki = state / "pki"
    sh([SCRIPTS / "gen-test-pki", pki])
    key, cert, chain, root = (str(pki / f) for f in ("leaf.key", "leaf.pem", "chain.pem", "root.pem"))
    sh([cosign, "import-key-pair", "--key", key, "--output-key-prefix", state / "imported"],
       env={"COSIGN_PASSWORD": PASSWORD})
    cosign_key = str(state / "imported.key")
    cosign_env = {"COSIGN_PASSWORD": PASSWORD}
    load_before = loadavg()
    rows: list[tuple[str, float, int, int]] = []
    try:
        out = sh([SCRIPTS / "make-test-image", f"{addr}/bench/verify:t", "--count", str(n)]).stdout.split()
        tags = [line.split("@")[0] for line in out]
        digests = [line.split(":t-")[0] + "@" + line.split("@")[1] for line in out]
        sh([ironsign, "sign", "--key", key, "--certificate", cert, "--certificate-chain", chain, *digests])

        ironsign_verify = [ironsign, "verify", "--ca-roots", root, "--certificate-identity", IDENTITY,
                           "--max-workers", str(args.workers)]
        cosign_verify = [cosign, "verify", "--allow-http-registry", "--certificate-chain", chain,
                         "--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", ".*",
                         "--insecure-ignore-tlog", "--insecure-ignore-sct"]

        def measure(label: str, fn) -> None:
            seconds, requests = log.during(fn)
            rows.append((label, seconds, n, len(requests)))

        measure(f"ironsign CLI, 1 process, {n} images by tag", lambda: sh([*ironsign_verify, *tags]))
        measure(f"ironsign CLI, 1 process, {n} images by digest", lambda: sh([*ironsign_verify, *digests]))
        measure(f"ironsign library batch (verify_many), {n} images by digest",
                lambda: sh([batch, root, IDENTITY, str(args.workers), *digests]))
        measure(f"cosign v2.6.5, {n} processes one after another, by digest",
                lambda: [sh([*cosign_verify, d]) for d in digests])
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            measure(f"cosign v2.6.5, {n} processes 2 at a time, by digest",
                    lambda: list(pool.map(lambda d: sh([*cosign_verify, d]), digests)))

        # Requests per operation, each on a fresh image, ironsign's and cosign's.
        def fresh(name: str) -> tuple[str, str]:
            line = sh([SCRIPTS / "make-test-image", f"{addr}/bench/{name}:v1"]).stdout.strip()
            tagged, digest = line.rsplit("@", 1)
            return tagged, tagged.rsplit(":", 1)[0] + "@" + digest

        predicate = state / "predicate.json"
        predicate.write_text('{"builder":"bench"}')
        ops: list[tuple[str, int, int]] = []

        def count(fn) -> int:
            return len(log.during(fn)[1])

        for tool in ("ironsign", "cosign"):
            tagged, pinned = fresh(f"ops-{tool}")
            if tool == "ironsign":
                sign = lambda: sh([ironsign, "sign", "--key", key, "--certificate", cert, "--certificate-chain", chain,
                                   tagged])
                verify_tag = lambda: sh([*ironsign_verify, tagged])
                verify_digest = lambda: sh([*ironsign_verify, pinned])
                attest = lambda: sh([ironsign, "attest", "--key", key, "--certificate", cert, "--certificate-chain",
                                     chain, "--predicate", predicate, "--type", "custom", tagged])
                verify_att = lambda: sh([ironsign, "verify-attestation", "--ca-roots", root, "--certificate-identity",
                                         IDENTITY, "--type", "custom", tagged])
                tree = lambda: sh([ironsign, "tree", pinned])
            else:
                sign = lambda: sh([cosign, "sign", "--allow-http-registry", "--key", cosign_key, "--certificate", cert,
                                   "--certificate-chain", chain, "--tlog-upload=false", "-y", tagged], env=cosign_env)
                verify_tag = lambda: sh([*cosign_verify, tagged])
                verify_digest = lambda: sh([*cosign_verify, pinned])
                attest = lambda: sh([cosign, "attest", "--allow-http-registry", "--key", cosign_key, "--certificate",
                                     cert, "--certificate-chain", chain, "--predicate", predicate, "--type", "custom",
                                     "--tlog-upload=false", "-y", tagged], env=cosign_env)
                verify_att = lambda: sh([cosign, "verify-attestation", "--allow-http-registry", "--certificate-chain",
                                         chain, "--certificate-identity", IDENTITY,
                                         "--certificate-oidc-issuer-regexp", ".*", "--insecure-ignore-tlog",
                                         "--insecure-ignore-sct", "--type", "custom", tagged])
                tree = lambda: sh([cosign, "tree", "--allow-http-registry", pinned])
            counts = [count(f) for f in (sign, verify_tag, verify_digest, attest, verify_att, tree)]
            ops.append((tool, *counts))
    finally:
        sh([SCRIPTS / "registry", "stop-all"], env=reg_env, check=False)
    load_after = loadavg()

    cpu = sh(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).stdout.strip()
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores ({cpu}), "
        f"Debian docker-registry 2.8 on loopback, {args.profile} build, {n} images, ironsign concurrency "
        f"{args.workers}. Load average before: {load_before}; after: {load_after}.",
        "",
        "| verification | wall s | images/s | requests/image |",
        "|---|---:|---:|---:|",
    ]
    rate = {}
    for label, seconds, count_images, requests in rows:
        rate[label] = count_images / seconds
        lines.append(f"| {label} | {seconds:.2f} | {count_images / seconds:.1f} | {requests / count_images:.2f} |")
    ours = next(r for label, r in rate.items() if label.startswith("ironsign CLI") and "digest" in label)
    ours_batch = next(r for label, r in rate.items() if "batch" in label)
    seq = next(r for label, r in rate.items() if "one after another" in label)
    par = next(r for label, r in rate.items() if "2 at a time" in label)
    lines += [
        "",
        f"ironsign CLI (one process) is **{ours / seq:.1f}x** cosign one process per image, "
        f"**{ours / par:.1f}x** cosign 2 processes at a time; the library batch **{ours_batch / seq:.1f}x** and "
        f"**{ours_batch / par:.1f}x**.",
        "",
        "| requests per operation (fresh image, one process) | sign by tag | verify by tag | verify by digest | "
        "attest by tag | verify-attestation by tag | tree |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, *counts in ops:
        name = "ironsign" if tool == "ironsign" else "cosign v2.6.5"
        lines.append(f"| {name} | " + " | ".join(str(c) for c in counts) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
