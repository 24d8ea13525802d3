#!/usr/bin/env bash
# Concurrent bridged G.711 calls with SIPp media (pcap play one way, -rtp_echo the other).
#   bench/media/run_sipp_bench.sh <build-dir> [calls ...]
set -euo pipefail
build="${1:-build/release}"
shift || true
calls=("${@:-100 250 500}")
for n in ${calls[@]}; do
  echo "== ${n} calls"
  "${build}/bench/media/bench_media_sipp" "${n}" 100
done
