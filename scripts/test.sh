#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (every CTest
# label: unit, interop, fuzz corpus replay).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
cd build
ctest --output-on-failure -j "$JOBS"
