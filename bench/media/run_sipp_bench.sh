#!/usr/bin/env bash
# Concurrent bridged G.711 calls with SIPp media (pcap play one way, -rtp_echo the other).
#   bench/media/run_sipp_bench.sh <build-dir> [calls ...]
# HOTLINE_MEDIA_BATCH_US=<µs> sets the engine's batch window (EngineConfig::batch_window).
set -euo pipefail
build="${1:-build/release}"
shift || true
calls=("${@:-100 250 500}")
for n in ${calls[@]}; do
  echo "== ${n} calls"
  "${build}/bench/media/bench_media_sipp" "${n}" 100 "${HOTLINE_MEDIA_BATCH_US:-0}"
done
