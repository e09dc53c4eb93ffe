#!/usr/bin/env bash
# Copy throughput and peak memory for a large multi-layer image (issue 4), beside cosign copy.
#
# Usage: bench/copy.sh [LAYERS] [LAYER_MIB]     (default 8 layers of 128 MiB: 1 GiB)
#
# Builds an image of LAYERS random layers (made here, never committed), pushes it to a local
# registry A and signs it, then times, with GNU time's elapsed time and maximum resident set size:
#   ironsign copy A/src -> A/other      same registry: blobs mounted, no bytes moved
#   ironsign copy A/src -> B/dst        another registry: every blob streamed and hashed
#   ironsign copy A/src -> B/dst again  nothing missing: HEAD requests only
#   ironsign save A/src --dir DIR       registry -> OCI layout
#   ironsign load --dir DIR C/loaded    OCI layout -> registry
#   cosign copy A/src -> A/cosign       same registry (cosign v2.6.5)
#   cosign copy A/src -> C/cosign       another registry
# and prints a Markdown table. The ironsign binary is $IRONSIGN_BIN, else the release build in
# $CARGO_TARGET_DIR (built if missing). Registries are scripts/registry instances on 127.0.0.1,
# stopped by PID at exit.
set -euo pipefail

LAYERS="${1:-8}"
LAYER_MIB="${2:-128}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$HERE/target}"
BIN="${IRONSIGN_BIN:-$TARGET/release/ironsign}"
TOOLS="${IRONSIGN_TOOLS:-$HOME/.cache/ironsign/tools}"
COSIGN="${IRONSIGN_COSIGN:-$TOOLS/cosign-v2.6.5/cosign}"
if [[ ! -x "$BIN" ]]; then
  (cd "$HERE" && cargo build -q --release -p ironsign-cli)
fi
[[ -x "$COSIGN" ]] || { echo "copy.sh: $COSIGN is missing: run scripts/install-deps" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ironsign-bench-copy.XXXXXX")"
export IRONSIGN_STATE="$WORK/state"
cleanup() {
  "$HERE/scripts/registry" stop-all >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

A="$("$HERE/scripts/registry" start bench-a)"
B="$("$HERE/scripts/registry" start bench-b)"
C="$("$HERE/scripts/registry" start bench-c)"
"$HERE/scripts/gen-test-pki" "$WORK/pki" >/dev/null

# The image: LAYERS random layers, each uploaded with one streamed PUT.
python3 - "$A" "$WORK/layer" "$LAYERS" "$LAYER_MIB" <<'PY'
import hashlib, http.client, json, os, sys
registry, scratch, layers, mib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host, port = registry.split(":")

def upload(path_or_bytes, size):
    h = hashlib.sha256()
    if isinstance(path_or_bytes, bytes):
        h.update(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    digest = "sha256:" + h.hexdigest()
    c = http.client.HTTPConnection(host, int(port))
    c.request("POST", "/v2/bench/src/blobs/uploads/", body=b"")
    r = c.getresponse(); r.read()
    location = r.getheader("Location")
    sep = "&" if "?" in location else "?"
    body = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb")
    c.request("PUT", f"{location}{sep}digest={digest}", body=body,
              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    r = c.getresponse(); r.read()
    assert r.status == 201, (r.status, location)
    return digest

descriptors = []
for i in range(layers):
    with open(scratch, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    size = os.path.getsize(scratch)
    descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": size, "digest": upload(scratch, size)})
    os.remove(scratch)
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                     "diff_ids": [d["digest"] for d in descriptors]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                                  "digest": upload(config, len(config))},
                       "layers": descriptors}).encode()
c = http.client.HTTPConnection(host, int(port))
c.request("PUT", "/v2/bench/src/manifests/v1", body=manifest,
          headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
r = c.getresponse(); r.read()
assert r.status == 201, r.status
PY
SRC="$A/bench/src:v1"
"$BIN" sign --key "$WORK/pki/leaf.key" --certificate "$WORK/pki/leaf.pem" \
  --certificate-chain "$WORK/pki/chain.pem" "$SRC" 2>/dev/null
TOTAL_MIB=$((LAYERS * LAYER_MIB))

ROWS=()
# measure LABEL CMD...: elapsed seconds, peak RSS and throughput of the image's bytes.
measure() {
  local label="$1"
  shift
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out" 2>"$WORK/err" || {
    cat "$WORK/err" >&2
    echo "copy.sh: $label failed" >&2
    exit 1
  }
  local elapsed rss seconds
  elapsed="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")"
  rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")"
  seconds="$(python3 -c 'import sys; p = sys.argv[1].split(":"); print(sum(float(x) * 60 ** i for i, x in enumerate(reversed(p))))' "$elapsed")"
  ROWS+=("$(printf '| %s | %.2f s | %.0f MiB/s | %.1f MiB |' "$label" "$seconds" \
    "$(python3 -c "print($TOTAL_MIB / max($seconds, 0.001))")" "$(python3 -c "print($rss / 1024)")")")
}

measure "ironsign copy, same registry (mount)" "$BIN" copy "$SRC" "$A/bench/other"
measure "ironsign copy, another registry (stream)" "$BIN" copy "$SRC" "$B/bench/dst"
measure "ironsign copy again (nothing missing)" "$BIN" copy "$SRC" "$B/bench/dst"
measure "ironsign save --dir (registry to layout)" "$BIN" save --dir "$WORK/layout" "$SRC"
measure "ironsign load --dir (layout to registry)" "$BIN" load --dir "$WORK/layout" "$C/bench/loaded"
rm -rf "$WORK/layout"
measure "cosign copy, same registry" "$COSIGN" copy --allow-http-registry "$SRC" "$A/bench/cosign"
measure "cosign copy, another registry" "$COSIGN" copy --allow-http-registry "$SRC" "$C/bench/cosign"

echo "Image: $LAYERS layers x $LAYER_MIB MiB = $TOTAL_MIB MiB (random), plus one .sig; registries: Debian docker-registry on 127.0.0.1;"
echo "$(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); ironsign $("$BIN" --version | cut -d' ' -f2); cosign $("$COSIGN" version 2>/dev/null | awk '/GitVersion/ {print $2}')."
echo
echo "| what | time | image MiB / s | peak RSS |"
echo "| --- | ---: | ---: | ---: |"
printf '%s\n' "${ROWS[@]}"
