#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite (which includes installing
# libchat into a scratch prefix and building the examples against the installed package).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLIBCHAT_WARNINGS_AS_ERRORS=ON
cmake --build build-test -j2
(cd build-test && ctest --output-on-failure -j2 --timeout 300)
