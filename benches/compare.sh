#!/usr/bin/env bash
# natsy vs async-nats, side by side: builds natsy-bench and the async-nats peer
# (benches/compare, tokio) in release mode, starts ONE local nats-server (installing the
# pinned one if missing), runs both clients interleaved (natsy, async-nats, natsy, ...)
# for every case, and writes the table of medians (min–max) and ratios into
# BENCHMARKS.md between its generated-section markers.
#
# Usage: benches/compare.sh [--reps N] [--only pub,pubsub,...] [-- natsy-bench flags]
#   --reps N     repetitions per client and case (default 3; the record needs >= 3)
#   --only LIST  only these scenarios
#   --out FILE   write somewhere else than BENCHMARKS.md (--out - prints only)
# Exit status: 0 all targets met, 3 some missed (the table says which), other: error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command_line="benches/compare.sh${*:+ $*}"
reps=3
out="BENCHMARKS.md"
pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --only) pass+=(--only "$2"); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) pass+=("$@"); break ;;
    *) echo "usage: $0 [--reps N] [--only LIST] [--out FILE] [-- FLAGS]" >&2; exit 2 ;;
  esac
done

NATS_SERVER_BIN="$(tests/install-nats-server --path)"
export NATS_SERVER_BIN

echo "== building natsy-bench and natsy-compare (release)" >&2
cargo build --release -p natsy-benches --bin natsy-bench --bin natsy-compare >&2
echo "== building the async-nats peer (release; benches/compare has its own workspace)" >&2
cargo build --release --manifest-path benches/compare/Cargo.toml >&2

target_of() {
  cargo metadata --format-version 1 --no-deps "$@" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}
target="$(target_of)"
peer_target="$(target_of --manifest-path benches/compare/Cargo.toml)"
out_args=(--out "$out")
[[ "$out" == "-" ]] && out_args=()

exec "$target/release/natsy-compare" \
  --natsy "$target/release/natsy-bench" \
  --async-nats "$peer_target/release/async-nats-bench" \
  --reps "$reps" \
  --command "$command_line" \
  "${out_args[@]}" \
  "${pass[@]}"
