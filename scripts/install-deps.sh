#!/usr/bin/env bash
# Installs the Debian packages the orchestrator needs to build and test,
# skipping the ones already present. Needs root, or sudo. With --fuzz it
# also installs clang and the libFuzzer and sanitizer runtimes that
# scripts/fuzz.sh needs.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libcaf-dev nlohmann-json3-dev libspdlog-dev
  libboost-dev libboost-test-dev libcli11-dev libsqlite3-dev libstatgrab-dev
  prometheus-cpp-dev prometheus
  libpqxx-dev libpq-dev postgresql libssl-dev openssl
  nginx gnuplot-nox jq iproute2
)
if [[ ${1:-} == --fuzz ]]; then
  packages+=(clang libclang-rt-14-dev)
elif [[ $# -gt 0 ]]; then
  echo "error: unknown argument '$1'; the only option is --fuzz" >&2
  exit 2
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "Installing missing packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "error: installing ${missing[*]} needs root; run this script as root or install sudo" >&2
  exit 1
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
