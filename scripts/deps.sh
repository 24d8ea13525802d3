#!/usr/bin/env bash
# Installs the Debian 12 packages Hotline needs to build, run and test.
# Idempotent: packages already installed are skipped, and apt is not touched
# at all when nothing is missing.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang libclang-rt-14-dev clang-format
  # libraries
  libboost-dev libssl-dev libsqlite3-dev libpq-dev nlohmann-json3-dev libspdlog-dev
  libsodium-dev libtomlplusplus-dev libgtest-dev libgmock-dev libbenchmark-dev
  libsrtp2-dev libsndfile1-dev liburing-dev libbpf-dev
  # real peers and servers used by tests and benchmarks
  postgresql redis-server sip-tester baresip wrk curl espeak-ng sox python3 openssl tzdata iproute2
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
