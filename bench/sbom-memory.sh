#!/usr/bin/env bash
# Peak memory of attaching and downloading a large SBOM against a local registry (issue 3).
#
# Usage: bench/sbom-memory.sh [SIZE_MIB]     (default 200)
#
# Measures the maximum resident set size (GNU time's "Maximum resident set size") of:
#   baseline   ironsign --version (the process baseline)
#   attach     ironsign attach sbom --sbom BIG IMAGE   (detect format, hash, stream upload)
#   download   ironsign download sbom --output-file F IMAGE (stream, hash, rename)
#   stdout     ironsign download sbom IMAGE > /dev/null
# and fails when any of them exceeds the baseline by 64 MiB or more. The binary is
# $IRONSIGN_BIN, or the debug build in $CARGO_TARGET_DIR (built if missing).
set -euo pipefail

SIZE_MIB="${1:-200}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$HERE/target}"
BIN="${IRONSIGN_BIN:-$TARGET/debug/ironsign}"
if [[ ! -x "$BIN" ]]; then
  (cd "$HERE" && cargo build -q -p ironsign-cli)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ironsign-bench.XXXXXX")"
NAME="bench-sbom-$$"
cleanup() {
  "$HERE/scripts/registry" stop "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ADDR="$("$HERE/scripts/registry" start "$NAME")"
IMAGE="$("$HERE/scripts/make-test-image" "$ADDR/bench/app:latest")"
IMAGE="${IMAGE%%:latest@*}@${IMAGE##*@}"

# A CycloneDX JSON document of SIZE_MIB MiB, written in pieces.
python3 - "$WORK/big.cdx.json" "$SIZE_MIB" <<'PY'
import sys
path, size = sys.argv[1], int(sys.argv[2]) << 20
with open(path, "w") as f:
    f.write('{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[')
    written, i = 0, 0
    while written < size:
        c = ('' if i == 0 else ',') + ('{"type":"library","name":"component-%d","version":"1.0.%d",'
             '"purl":"pkg:generic/component-%d@1.0.%d","description":"synthetic component %d"}' % (i, i, i, i, i))
        f.write(c)
        written += len(c)
        i += 1
    f.write(']}')
PY

# peak_kib CMD...: runs CMD under GNU time, prints its maximum RSS in KiB.
peak_kib() {
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out" 2>"$WORK/err" || {
    cat "$WORK/err" >&2
    return 1
  }
  awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt"
}

BASE="$(peak_kib "$BIN" --version)"
ATTACH="$(peak_kib "$BIN" attach sbom --sbom "$WORK/big.cdx.json" "$IMAGE")"
DOWNLOAD="$(peak_kib "$BIN" download sbom --output-file "$WORK/downloaded.json" "$IMAGE")"
cmp -s "$WORK/big.cdx.json" "$WORK/downloaded.json" || { echo "downloaded SBOM differs" >&2; exit 1; }
STDOUT="$(peak_kib "$BIN" download sbom "$IMAGE")"
cmp -s "$WORK/big.cdx.json" "$WORK/out" || { echo "SBOM on stdout differs" >&2; exit 1; }

BYTES="$(stat -c %s "$WORK/big.cdx.json")"
echo "SBOM: $BYTES bytes ($SIZE_MIB MiB CycloneDX JSON), binary: $BIN"
printf '%-10s %12s %14s\n' step "peak RSS MiB" "over baseline"
status=0
for row in "baseline:$BASE" "attach:$ATTACH" "download:$DOWNLOAD" "stdout:$STDOUT"; do
  step="${row%%:*}"
  kib="${row##*:}"
  over=$(((kib - BASE) / 1024))
  printf '%-10s %12.1f %11d MiB\n' "$step" "$(echo "$kib / 1024" | bc -l)" "$over"
  if ((kib - BASE >= 64 * 1024)); then
    echo "  $step exceeds the 64 MiB budget" >&2
    status=1
  fi
done
exit $status
