#!/usr/bin/env bash
# natsy vs async-nats, side by side: builds natsy-bench and the async-nats peer
# (benches/compare, tokio) in release mode, and the nats.c peer (benches/natsc) where
# libnats-dev is or can be installed; starts ONE local nats-server (installing the pinned
# one if missing), runs the clients interleaved (natsy, async-nats, nats.c, natsy, ...)
# for every case, and writes the table of medians (min–max) and ratios into
# BENCHMARKS.md between its generated-section markers. Besides the flat-out cases, two
# fixed-rate ones (--rate: a subscriber at 2,000 msg/s and a requester at 1,000 req/s,
# 5 s each) compare every client's CPU per message, against nats.c for their target.
# The WebSocket cases (pub, pubsub, req at 128 B over `ws://`; async-nats with its
# `websockets` feature) run on the same server's `websocket` listener, without targets.
#
# Usage: benches/compare.sh [--reps N] [--only pub,pubsub,...] [--no-natsc] [--async-driver D] [-- natsy-bench flags]
#   --reps N     repetitions per client and case (default 3; the record needs >= 3)
#   --only LIST  only these scenarios (`rate`: only the fixed-rate cases; `ws`: only the
#                WebSocket cases, `ws-pub` one of them; a plain name picks TCP cases;
#                `kv`: kv-put, kv-get and kv-watch, without nats.c: its peer has no KV;
#                `obj`: obj-put, obj-get and js-pub-async at 128 KiB, their reference)
#   --out FILE   write somewhere else than BENCHMARKS.md (--out - prints only)
#   --no-natsc   leave out the nats.c column (built from benches/natsc when Debian's
#                libnats-dev is installed or installable)
#   --async-driver thread|tokio  what drives natsy-bench-async's connections: natsy's own
#                loop threads (default) or tasks on its tokio runtime
#                (`ConnectOptions::tokio_runtime`; NATSY_BENCH_TOKIO_DRIVER=1 does the same)
# Exit status: 0 all targets met, 3 some missed (the table says which), other: error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command_line="benches/compare.sh${*:+ $*}"
reps=3
out="BENCHMARKS.md"
natsc=yes
pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --only) pass+=(--only "$2"); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-natsc) natsc=no; shift ;;
    --async-driver)
      case "$2" in
        tokio) export NATSY_BENCH_TOKIO_DRIVER=1 ;;
        thread) unset NATSY_BENCH_TOKIO_DRIVER ;;
        *) echo "--async-driver: thread or tokio" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --) pass+=("$@"); break ;;
    *) echo "usage: $0 [--reps N] [--only LIST] [--out FILE] [--no-natsc] [--async-driver thread|tokio] [-- FLAGS]" >&2; exit 2 ;;
  esac
done

NATS_SERVER_BIN="$(tests/install-nats-server --path)"
export NATS_SERVER_BIN

echo "== building natsy-bench and natsy-compare (release)" >&2
cargo build --release -p natsy-benches --bin natsy-bench --bin natsy-bench-async --bin natsy-compare >&2
echo "== building the async-nats peer (release; benches/compare has its own workspace)" >&2
cargo build --release --manifest-path benches/compare/Cargo.toml >&2

target_of() {
  cargo metadata --format-version 1 --no-deps "$@" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}
target="$(target_of)"
peer_target="$(target_of --manifest-path benches/compare/Cargo.toml)"

# The nats.c peer (a third column, no targets) needs Debian's libnats-dev; installed here
# when possible, otherwise the comparison runs without it.
natsc_args=()
if [[ "$natsc" == yes ]]; then
  if [[ ! -f /usr/include/nats.h ]] && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "== installing libnats-dev for the nats.c column" >&2
    apt-get install -y libnats-dev >&2 ||
      { apt-get update >&2 && apt-get install -y libnats-dev >&2; } ||
      echo "== could not install libnats-dev" >&2
  fi
  echo "== building the nats.c peer" >&2
  status=0
  benches/natsc/build "$target/release/natsc-bench" || status=$?
  case "$status" in
    0) natsc_args=(--natsc "$target/release/natsc-bench") ;;
    3) echo "== the nats.c column is left out" >&2 ;;
    *) exit "$status" ;;
  esac
fi
out_args=(--out "$out")
[[ "$out" == "-" ]] && out_args=()

exec "$target/release/natsy-compare" \
  --natsy "$target/release/natsy-bench" \
  --async-nats "$peer_target/release/async-nats-bench" \
  --natsy-async "$target/release/natsy-bench-async" \
  "${natsc_args[@]}" \
  --reps "$reps" \
  --command "$command_line" \
  "${out_args[@]}" \
  "${pass[@]}"
