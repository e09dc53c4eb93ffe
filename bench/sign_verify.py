#!/usr/bin/env python3
"""Sign and verify N images on a local registry with ironsign (one process for all images) and
with cosign (one process per image, as pipelines use it); report images/s, the ratio, and the
registry requests per operation counted from the registry's access log.

  bench/sign_verify.py [--images 200] [--cosign v2.6.5] [--out BENCHMARKS-sign-verify.md]

Needs: scripts/install-deps run once, a release build of ironsign (built here if missing).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/ironsign/target"))
TOOLS = os.environ.get("IRONSIGN_TOOLS", os.path.expanduser("~/.cache/ironsign/tools"))
REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/\S*) HTTP/[\d.]+" (\d+)')


def sh(args, env=None, check=True):
    res = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        sys.exit(f"command failed: {' '.join(args)}\n{res.stderr}")
    return res


def requests(log_path, start):
    """Requests logged since byte offset `start`: (total, by method, without /v2/ pings)."""
    with open(log_path, errors="replace") as f:
        f.seek(start)
        lines = [m for m in (REQUEST.search(line) for line in f) if m]
    pings = sum(1 for m in lines if m.group(2) == "/v2/")
    return len(lines), pings


def timed(label, fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--cosign", default="v2.6.5")
    ap.add_argument("--out", default=None, help="append the markdown table to this file")
    args = ap.parse_args()
    n = args.images

    ironsign = os.path.join(TARGET, "release", "ironsign")
    sh(["cargo", "build", "--release", "--quiet", "-p", "ironsign-cli"], env={"CARGO_TARGET_DIR": TARGET})
    cosign = os.path.join(TOOLS, f"cosign-{args.cosign}", "cosign")
    if not os.path.exists(cosign):
        sys.exit(f"{cosign} missing: run scripts/install-deps")

    state = tempfile.mkdtemp(prefix="ironsign-bench.")
    env = {"IRONSIGN_STATE": state}
    name = "bench"
    addr = sh([f"{ROOT}/scripts/registry", "start", name], env=env).stdout.strip()
    log = os.path.join(state, name, "registry.log")
    pki = os.path.join(state, "pki")
    sh([f"{ROOT}/scripts/gen-test-pki", pki])
    key, cert, chain, root = (os.path.join(pki, f) for f in ("leaf.key", "leaf.pem", "chain.pem", "root.pem"))
    sh([cosign, "import-key-pair", "--key", key, "--output-key-prefix", os.path.join(state, "imported")],
       env={"COSIGN_PASSWORD": "bench"})
    cosign_key = os.path.join(state, "imported.key")
    try:
        def push(repo):
            out = sh([f"{ROOT}/scripts/make-test-image", f"{addr}/{repo}:t", "--count", str(n)]).stdout.split()
            tags = [line.split("@")[0] for line in out]
            digests = [line.split(":t-")[0] + "@" + line.split("@")[1] for line in out]
            return tags, digests

        ours_tags, ours_digests = push("bench/ironsign")
        theirs_tags, theirs_digests = push("bench/cosign")
        rows = []

        def measure(label, fn, count_as):
            start = os.path.getsize(log)
            seconds = timed(label, fn)
            total, pings = requests(log, start)
            rows.append((label, seconds, count_as / seconds, total / count_as, (total - pings) / count_as))

        identity = ["--certificate-identity", "signer@example.com"]
        measure(f"ironsign sign, {n} images, 1 process",
                lambda: sh([ironsign, "sign", "--key", key, "--certificate", cert, "--certificate-chain", chain]
                           + ours_tags), n)
        measure(f"cosign {args.cosign} sign, {n} processes",
                lambda: [sh([cosign, "sign", "--allow-http-registry", "--key", cosign_key, "--certificate", cert,
                             "--certificate-chain", chain, "--tlog-upload=false", "-y", d],
                            env={"COSIGN_PASSWORD": "bench"}) for d in theirs_digests], n)
        measure(f"ironsign verify by tag, {n} images, 1 process",
                lambda: sh([ironsign, "verify", "--ca-roots", root] + identity + ours_tags), n)
        measure(f"ironsign verify by digest, {n} images, 1 process",
                lambda: sh([ironsign, "verify", "--ca-roots", root] + identity + ours_digests), n)
        measure(f"ironsign verify by digest, {n} processes",
                lambda: [sh([ironsign, "verify", "--ca-roots", root] + identity + [d]) for d in ours_digests], n)
        measure(f"cosign {args.cosign} verify by digest, {n} processes",
                lambda: [sh([cosign, "verify", "--allow-http-registry", "--certificate-chain", chain] + identity
                            + ["--certificate-oidc-issuer-regexp", ".*", "--insecure-ignore-tlog",
                               "--insecure-ignore-sct", d]) for d in ours_digests], n)
    finally:
        sh([f"{ROOT}/scripts/registry", "stop-all"], env=env, check=False)

    cpu = sh(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).stdout.strip()
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores ({cpu}), "
        f"Debian docker-registry 2.8 on loopback, release build, {n} images per row.",
        "",
        "| operation | wall s | images/s | requests/image | requests/image without /v2/ pings |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {label} | {s:.2f} | {rate:.1f} | {req:.2f} | {noping:.2f} |" for label, s, rate, req, noping in rows]
    by = {label.split(",")[0]: rate for label, _, rate, _, _ in rows}
    verify_ours = next(r for l, _, r, _, _ in rows if l.startswith("ironsign verify by digest") and "1 process" in l)
    verify_theirs = next(r for l, _, r, _, _ in rows if l.startswith("cosign") and "verify" in l)
    sign_ours = next(r for l, _, r, _, _ in rows if l.startswith("ironsign sign"))
    sign_theirs = next(r for l, _, r, _, _ in rows if l.startswith("cosign") and "sign" in l and "verify" not in l)
    lines += ["", f"Verification: ironsign (one process) is **{verify_ours / verify_theirs:.1f}x** cosign's images/s; "
              f"signing: **{sign_ours / sign_theirs:.1f}x**."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")
    del by


if __name__ == "__main__":
    main()
