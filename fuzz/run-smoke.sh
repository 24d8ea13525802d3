#!/usr/bin/env bash
# Builds the fuzz preset in build/fuzz and runs each libFuzzer target for a
# fixed time over its seed corpus (plus kept regressions). Any crash fails
# the script and leaves the reproducer in build/fuzz/artifacts/.
#   fuzz/run-smoke.sh [seconds-per-target]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-30}"
BUILD=build/fuzz
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DHOTLINE_FUZZ=ON -DHOTLINE_BENCH=OFF \
  -DCMAKE_CXX_FLAGS=-Wno-unknown-warning-option >/dev/null  # shared flags include GCC-only warnings
cmake --build "$BUILD" --target fuzz_sip_message fuzz_sdp -j"$(nproc)"
mkdir -p "$BUILD/artifacts" "$BUILD/corpus"
for t in sip_message sdp; do
  work="$BUILD/corpus/$t"
  mkdir -p "$work"
  echo "== fuzz_$t for ${SECS}s"
  # A fixed seed keeps CI runs reproducible: the same inputs every time.
  "$BUILD/fuzz/fuzz_$t" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECS" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="$BUILD/artifacts/$t-" "$work" "fuzz/corpus/$t" "fuzz/regressions/$t" 2>&1 | tail -n 3
done
echo "fuzz smoke: no crashes"
