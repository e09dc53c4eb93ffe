#!/usr/bin/env python3
"""Hostile-registry cases: a synthetic registry on loopback serves crafted answers, and each case
runs one ironsign command against it under /usr/bin/time -v, recording the outcome (exit code and
error code), wall time and peak memory (max RSS).

  bench/hostile.py [--ironsign PATH] [--only CASE,...] [--json OUT] [--markdown]

Cases (each a repository `hostile/<case>` of the synthetic registry):
  tags-100k          100,000 tags, 1,000 a page with `Link` (the gc bound): `gc` HEADs every one
  tags-one-page      200,001 tags in one page: `gc` refuses after the first page
  layers-10k         a `.sig` manifest with 10,000 layers: `verify`
  payload-2g         a `.sig` layer that declares a 2 GiB payload: `verify`
  blob-2g-served     a 300-byte layer whose blob is served with Content-Length 2 GiB: `verify`
  referrers-100k     the referrers API answers an index of 100,000 entries in one page: `tree`
  referrers-paged    the referrers API pages 100,000 entries, 1,000 a page: `tree`
  nested-manifest    a `.sig` manifest nested 100,000 arrays deep: `verify`
  nested-payload     a signed payload nested 100,000 objects deep: `verify`
  chain-50           a valid signature whose chain annotation holds 50 certificates: `verify`
  sans-10k, sans-2k  a valid signature by a certificate with 10,000 (2,000) SANs, the identity
                     being the last one: `verify`
  repeated-blob-3    a `.sig` manifest whose 3 layers all name one 64 MiB blob (within the bound
                     of 256 MiB a verification): `verify`
  repeated-blob      a `.sig` manifest whose 40 layers all name one 64 MiB blob: `verify`
  repeated-blob-1k   the same with 1,000 layers (about 64 GiB if each layer were read): `verify`
  distinct-blobs     a `.sig` manifest of 40 layers, each a different 16 MiB blob: `verify`
  referrers-repeated 40 bundle referrers whose layers all name one 64 MiB blob: `verify`
  dsse-10k           a `.att` envelope with 10,000 signatures, none valid, and a valid certificate
                     and chain: `verify-attestation`

Each case also reports how many GET requests the registry answered for it (`gets`).

Needs python3, openssl, /usr/bin/time, and an ironsign binary (default: the release build in
$CARGO_TARGET_DIR, else the debug build). Uses the test PKI of scripts/gen-test-pki.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/ironsign/target"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
GIB2 = 2 << 30


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Registry:
    """Routes: path -> (content type, body); plus dynamic tag lists, referrers and huge blobs."""

    def __init__(self):
        self.routes = {}
        self.tag_lists = {}  # repo -> (count, page size or None)
        self.referrers = {}  # (repo, digest) -> (count, page size or None)
        self.huge_blobs = set()  # paths served with a 2 GiB Content-Length
        self.generated = {}  # path -> (prefix, size): large blobs made on the fly, never stored
        self.referrer_lists = {}  # (repo, digest) -> [descriptor]: an explicit referrers answer
        self.gets = 0

    def add(self, repo, kind, ref, body, content_type=OCI_MANIFEST):
        self.routes[f"/v2/{repo}/{kind}/{ref}"] = (content_type, body)

    def blob(self, repo, data):
        digest = sha256(data)
        self.add(repo, "blobs", digest, data, "application/octet-stream")
        return digest

    def image(self, repo):
        """A minimal image tagged v1: its digest."""
        config = self.blob(repo, b"{}")
        manifest = compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                            "config": {"mediaType": OCI_CONFIG, "size": 2, "digest": config}, "layers": []})
        digest = sha256(manifest)
        self.add(repo, "manifests", "v1", manifest)
        self.add(repo, "manifests", digest, manifest)
        return digest

    def sig_manifest(self, repo, image_digest, body, suffix="sig"):
        self.add(repo, "manifests", image_digest.replace(":", "-") + "." + suffix, body)

    def generated_blob(self, repo, prefix: bytes, size: int):
        """A `size`-byte blob of `prefix` then zeros, served without being stored: its digest."""
        h = hashlib.sha256(prefix)
        zeros = b"\0" * (1 << 20)
        left = size - len(prefix)
        while left > 0:
            h.update(zeros[:min(left, len(zeros))])
            left -= len(zeros)
        digest = "sha256:" + h.hexdigest()
        self.generated[f"/v2/{repo}/blobs/{digest}"] = (prefix, size)
        return digest


def handler_for(reg: Registry):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, content_type, body, extra=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            if status == 200 and "/manifests/" in self.path:
                self.send_header("Docker-Content-Digest", sha256(body))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def not_found(self):
            self.send(404, "application/json", b'{"errors":[{"code":"NOT_FOUND","message":"not found"}]}')

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            if self.command == "GET":
                reg.gets += 1
            path, _, query = self.path.partition("?")
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            if path == "/v2/":
                return self.send(200, "application/json", b"{}")
            m = re.match(r"^/v2/(.+)/tags/list$", path)
            if m and m.group(1) in reg.tag_lists:
                count, page = reg.tag_lists[m.group(1)]
                start = int(params.get("last", "t-1").split("-")[1]) + 1 if "last" in params else 0
                end = count if page is None else min(count, start + page)
                tags = [f"t-{i}" for i in range(start, end)]
                extra = []
                if end < count:
                    extra.append(("Link", f'</v2/{m.group(1)}/tags/list?n={page}&last=t-{end - 1}>; rel="next"'))
                return self.send(200, "application/json", compact({"name": m.group(1), "tags": tags}), extra)
            m = re.match(r"^/v2/(.+)/referrers/(sha256:[0-9a-f]{64})$", path)
            if m and (m.group(1), m.group(2)) in reg.referrer_lists:
                return self.send(200, OCI_INDEX, compact({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                          "manifests": reg.referrer_lists[(m.group(1), m.group(2))]}))
            if m and (m.group(1), m.group(2)) in reg.referrers:
                count, page = reg.referrers[(m.group(1), m.group(2))]
                start = int(params.get("page", "0"))
                end = count if page is None else min(count, start + page)
                entries = [{"mediaType": OCI_MANIFEST, "size": 500, "digest": sha256(b"r%d" % i),
                            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"} for i in range(start, end)]
                extra = []
                if end < count:
                    extra.append(("Link", f'</v2/{m.group(1)}/referrers/{m.group(2)}?page={end}>; rel="next"'))
                return self.send(200, OCI_INDEX, compact({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                          "manifests": entries}), extra)
            if path in reg.generated:
                prefix, size = reg.generated[path]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    self.wfile.write(prefix)
                    zeros, left = b"\0" * (1 << 20), size - len(prefix)
                    while left > 0:
                        self.wfile.write(zeros[:min(left, len(zeros))])
                        left -= len(zeros)
                except OSError:
                    pass
                return
            if path in reg.huge_blobs:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(GIB2))
                self.end_headers()
                try:
                    chunk = b"\0" * 65536
                    for _ in range(GIB2 // len(chunk)):
                        self.wfile.write(chunk)
                except OSError:
                    pass
                return
            m = re.match(r"^/v2/(.+)/manifests/(t-\d+)$", path)
            if m and m.group(1) in reg.tag_lists:
                path = f"/v2/{m.group(1)}/manifests/v1"
            if path in reg.routes:
                content_type, body = reg.routes[path]
                return self.send(200, content_type, body)
            return self.not_found()

    return Handler


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def signature_layer(payload: bytes, key: str, cert_pem: str, chain_pem: str):
    sig = openssl("dgst", "-sha256", "-sign", key, "-binary", stdin=payload)
    return {"signature": base64.b64encode(sig).decode(), "cert": cert_pem, "chain": chain_pem}


def sig_manifest_bytes(reg, repo, layers):
    """A cosign-shaped .sig manifest: [(payload, annotations)]."""
    descs = []
    for payload, annotations in layers:
        digest = reg.blob(repo, payload)
        descs.append({"mediaType": SIMPLE_SIGNING, "size": len(payload), "digest": digest,
                      "annotations": annotations})
    config = compact({"architecture": "", "os": "", "config": {}})
    return compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": reg.blob(repo, config)},
                    "layers": descs})


def manifest_of(reg, repo, descs, subject=None, annotations=None, artifact_type=None):
    """An OCI manifest of these layer descriptors (with an empty config)."""
    config = compact({"architecture": "", "os": "", "config": {}})
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": reg.blob(repo, config)},
         "layers": descs}
    if artifact_type:
        m["artifactType"] = artifact_type
    if subject:
        m["subject"] = subject
    if annotations:
        m["annotations"] = annotations
    return compact(m)


def payload_for(reference: str, digest: str) -> bytes:
    return (('{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},'
             '"type":"cosign container image signature"},"optional":null}') % (reference, digest)).encode()


def annotations(payload, key, cert, chain):
    sig = openssl("dgst", "-sha256", "-sign", key, "-binary", stdin=payload)
    return {"dev.cosignproject.cosign/signature": base64.b64encode(sig).decode(),
            "dev.sigstore.cosign/certificate": cert, "dev.sigstore.cosign/chain": chain}


def many_san_certificate(pki, work, count):
    """A code-signing leaf issued by the test intermediate with `count` SANs, the last being
    signer@example.com: (key path, certificate PEM)."""
    key = os.path.join(work, "sans.key")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    csr = os.path.join(work, "sans.csr")
    openssl("req", "-new", "-key", key, "-subj", "/CN=many-sans", "-out", csr)
    ext = os.path.join(work, "sans.ext")
    with open(ext, "w") as f:
        f.write("keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n"
                "basicConstraints=CA:FALSE\nsubjectAltName=@alt\n[alt]\n")
        for i in range(count - 1):
            f.write(f"DNS.{i + 1}=n{i}.example\n")
        f.write("email.1=signer@example.com\n")
    cert = os.path.join(work, "sans.pem")
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(pki, "inter.pem"), "-CAkey",
            os.path.join(pki, "inter.key"), "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", cert)
    return key, open(cert).read()


def build_cases(reg, addr, pki, work):
    read = lambda f: open(os.path.join(pki, f)).read()
    leaf_key, leaf, chain = os.path.join(pki, "leaf.key"), read("leaf.pem"), read("chain.pem")
    root = os.path.join(pki, "root.pem")
    verify = ["verify", "--ca-roots", root, "--certificate-identity", "signer@example.com", "-o", "json"]
    cases = {}

    def image(name):
        repo = f"hostile/{name}"
        return repo, reg.image(repo)

    repo, _ = image("tags-100k")
    reg.tag_lists[repo] = (100_000, 1000)
    cases["tags-100k"] = ("100,000 tags (gc scan)", ["gc", "-o", "json", f"{addr}/{repo}"])
    repo, _ = image("tags-one-page")
    reg.tag_lists[repo] = (200_001, None)
    cases["tags-one-page"] = ("200,001 tags in one page (gc scan)", ["gc", "-o", "json", f"{addr}/{repo}"])

    repo, d = image("layers-10k")
    payload = payload_for(f"{addr}/{repo}", d)
    # Signature annotations only (no certificate), so the manifest stays under the 4 MiB bound
    # and the layer count is what is tested.
    ann = {"dev.cosignproject.cosign/signature": annotations(payload, leaf_key, leaf, chain)["dev.cosignproject.cosign/signature"]}
    reg.sig_manifest(repo, d, sig_manifest_bytes(reg, repo, [(payload, ann)] * 10_000))
    cases["layers-10k"] = ("`.sig` manifest with 10,000 layers", verify + [f"{addr}/{repo}@{d}"])

    repo, d = image("payload-2g")
    manifest = json.loads(sig_manifest_bytes(reg, repo, [(payload_for(f"{addr}/{repo}", d), {})]))
    manifest["layers"][0]["size"] = GIB2
    reg.sig_manifest(repo, d, compact(manifest))
    cases["payload-2g"] = ("payload declared as 2 GiB", verify + [f"{addr}/{repo}@{d}"])

    repo, d = image("blob-2g-served")
    payload = payload_for(f"{addr}/{repo}", d)
    reg.sig_manifest(repo, d, sig_manifest_bytes(reg, repo, [(payload, annotations(payload, leaf_key, leaf, chain))]))
    reg.huge_blobs.add(f"/v2/{repo}/blobs/{sha256(payload)}")
    cases["blob-2g-served"] = ("payload blob served with Content-Length 2 GiB", verify + [f"{addr}/{repo}@{d}"])

    repo, d = image("referrers-100k")
    reg.referrers[(repo, d)] = (100_000, None)
    cases["referrers-100k"] = ("referrers index of 100,000 entries, one page", ["tree", "-o", "json", f"{addr}/{repo}@{d}"])
    repo, d = image("referrers-paged")
    reg.referrers[(repo, d)] = (100_000, 1000)
    cases["referrers-paged"] = ("referrers: 100,000 entries, 1,000 a page", ["tree", "-o", "json", f"{addr}/{repo}@{d}"])

    repo, d = image("nested-manifest")
    depth = 100_000
    reg.sig_manifest(repo, d, b'{"schemaVersion":2,"layers":' + b"[" * depth + b"]" * depth + b"}")
    cases["nested-manifest"] = ("`.sig` manifest nested 100,000 deep", verify + [f"{addr}/{repo}@{d}"])
    repo, d = image("nested-payload")
    payload = payload_for(f"{addr}/{repo}", d)[:-len(b"null}")] + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    reg.sig_manifest(repo, d, sig_manifest_bytes(reg, repo, [(payload, annotations(payload, leaf_key, leaf, chain))]))
    cases["nested-payload"] = ("signed payload nested 100,000 deep", verify + [f"{addr}/{repo}@{d}"])

    repo, d = image("chain-50")
    payload = payload_for(f"{addr}/{repo}", d)
    reg.sig_manifest(repo, d, sig_manifest_bytes(reg, repo, [(payload, annotations(payload, leaf_key, leaf, chain * 25))]))
    cases["chain-50"] = ("chain annotation of 50 certificates", verify + [f"{addr}/{repo}@{d}"])

    for count in (10_000, 2_000):
        name = f"sans-{count // 1000}k"
        repo, d = image(name)
        key, cert = many_san_certificate(pki, work, count)
        payload = payload_for(f"{addr}/{repo}", d)
        reg.sig_manifest(repo, d, sig_manifest_bytes(reg, repo, [(payload, annotations(payload, key, cert, chain))]))
        cases[name] = (f"leaf certificate with {count:,} SANs", verify + [f"{addr}/{repo}@{d}"])
    mib = 1 << 20
    for name, layers in (("repeated-blob-3", 3), ("repeated-blob", 40), ("repeated-blob-1k", 1000)):
        repo, d = image(name)
        blob = reg.generated_blob(repo, b"not a payload", 64 * mib)
        ann = {"dev.cosignproject.cosign/signature": "AAAA"}
        descs = [{"mediaType": SIMPLE_SIGNING, "size": 64 * mib, "digest": blob, "annotations": ann}] * layers
        reg.sig_manifest(repo, d, manifest_of(reg, repo, descs))
        cases[name] = (f"`.sig` manifest: {layers:,} layers naming one 64 MiB blob", verify + [f"{addr}/{repo}@{d}"])

    repo, d = image("distinct-blobs")
    descs = [{"mediaType": SIMPLE_SIGNING, "size": 16 * mib, "annotations": {"dev.cosignproject.cosign/signature": "AAAA"},
              "digest": reg.generated_blob(repo, b"payload %d" % i, 16 * mib)} for i in range(40)]
    reg.sig_manifest(repo, d, manifest_of(reg, repo, descs))
    cases["distinct-blobs"] = ("`.sig` manifest: 40 layers, each a distinct 16 MiB blob", verify + [f"{addr}/{repo}@{d}"])

    repo, d = image("referrers-repeated")
    bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json"
    blob = reg.generated_blob(repo, b"not a bundle", 64 * mib)
    image_manifest = reg.routes[f"/v2/{repo}/manifests/{d}"][1]
    subject = {"mediaType": OCI_MANIFEST, "size": len(image_manifest), "digest": d}
    listing = []
    for i in range(40):
        body = manifest_of(reg, repo, [{"mediaType": bundle_type, "size": 64 * mib, "digest": blob}], subject,
                           {"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1", "n": str(i)},
                           bundle_type)
        rd = sha256(body)
        reg.add(repo, "manifests", rd, body)
        listing.append({"mediaType": OCI_MANIFEST, "size": len(body), "digest": rd, "artifactType": bundle_type})
    reg.referrer_lists[(repo, d)] = listing
    cases["referrers-repeated"] = ("40 bundle referrers naming one 64 MiB blob", verify + [f"{addr}/{repo}@{d}"])

    repo, d = image("dsse-10k")
    statement = compact({"_type": "https://in-toto.io/Statement/v1",
                         "subject": [{"name": f"{addr}/{repo}", "digest": {"sha256": d.split(":")[1]}}],
                         "predicateType": "https://example.com/p/v1", "predicate": {}})
    junk = base64.b64encode(b"\x07" * 70).decode()
    envelope = compact({"payloadType": "application/vnd.in-toto+json",
                        "payload": base64.b64encode(statement).decode(),
                        "signatures": [{"keyid": "", "sig": junk}] * 10_000})
    ann = {"dev.cosignproject.cosign/signature": "", "dev.sigstore.cosign/certificate": leaf,
           "dev.sigstore.cosign/chain": chain, "predicateType": "https://example.com/p/v1"}
    descs = [{"mediaType": "application/vnd.dsse.envelope.v1+json", "size": len(envelope),
              "digest": reg.blob(repo, envelope), "annotations": ann}]
    reg.sig_manifest(repo, d, manifest_of(reg, repo, descs), suffix="att")
    verify_att = ["verify-attestation", "--type", "https://example.com/p/v1", "--ca-roots", root,
                  "--certificate-identity", "signer@example.com", "-o", "json"]
    cases["dsse-10k"] = ("`.att` envelope with 10,000 invalid signatures", verify_att + [f"{addr}/{repo}@{d}"])
    return cases


def measure(ironsign, args):
    out = subprocess.run(["/usr/bin/time", "-v", ironsign, *args], capture_output=True, text=True, timeout=900)
    stats = {}
    for line in out.stderr.splitlines():
        if "Maximum resident set size" in line:
            stats["max_rss_mib"] = round(int(line.rsplit(":", 1)[1]) / 1024, 1)
        if "Elapsed (wall clock) time" in line:
            parts = line.rsplit(": ", 1)[1].split(":")
            stats["wall_s"] = round(sum(float(p) * 60 ** i for i, p in enumerate(reversed(parts))), 2)
        if "Exit status" in line:
            stats["exit"] = int(line.rsplit(":", 1)[1])
    code = ""
    try:
        v = json.loads(out.stdout)
        code = (v.get("error") or {}).get("code", "")
        rejections = ((v.get("error") or {}).get("details") or {}).get("NoMatchingSignature", {}).get("rejections")
        if rejections:
            code += " (" + ", ".join(sorted({r["code"] for r in rejections})) + ")"
    except (json.JSONDecodeError, AttributeError):
        pass
    if not code:
        # gc reports a failed repository inside its report rather than as the run's error.
        codes = sorted(set(re.findall(r'"code":\s*"([A-Z_0-9]+)"', out.stdout)))
        code = ", ".join(codes)
    stats["outcome"] = code or ("ok" if stats.get("exit") == 0 else out.stdout[-200:] + out.stderr[-300:])
    return stats


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ironsign")
    parser.add_argument("--only", default="")
    parser.add_argument("--json")
    parser.add_argument("--markdown", action="store_true")
    a = parser.parse_args()
    ironsign = a.ironsign
    if not ironsign:
        for profile in ("release", "debug"):
            candidate = os.path.join(TARGET, profile, "ironsign")
            if os.path.exists(candidate):
                ironsign = candidate
                break
    if not ironsign:
        sys.exit("no ironsign binary: cargo build --release -p ironsign-cli")
    with tempfile.TemporaryDirectory(prefix="ironsign-hostile.") as work:
        pki = os.environ.get("IRONSIGN_TEST_PKI") or os.path.join(work, "pki")
        subprocess.run([os.path.join(ROOT, "scripts/gen-test-pki"), pki], check=True, capture_output=True)
        reg = Registry()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(reg))
        server.daemon_threads = True
        addr = "%s:%d" % server.server_address[:2]
        cases = build_cases(reg, addr, pki, work)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        only = [c for c in a.only.split(",") if c]
        results = []
        for name, (title, args) in cases.items():
            if only and name not in only:
                continue
            gets = reg.gets
            stats = measure(ironsign, args)
            stats["gets"] = reg.gets - gets
            results.append({"case": name, "what": title, "command": args[0], **stats})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        server.shutdown()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ironsign": ironsign, "results": results}, f, indent=2)
    if a.markdown:
        print("| case | command | outcome | GETs | wall time | peak RSS |")
        print("|---|---|---|---:|---:|---:|")
        for r in results:
            print(f"| {r['what']} | `{r['command']}` | {r['outcome']} | {r['gets']:,} | {r['wall_s']} s "
                  f"| {r['max_rss_mib']} MiB |")


if __name__ == "__main__":
    main()
