#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite twice:
#  1. as built for production (gcc, -O2; the suite includes installing libchat into a scratch prefix
#     and building the examples against the installed package);
#  2. under AddressSanitizer and UndefinedBehaviorSanitizer (clang), with each libFuzzer harness run
#     for LIBCHAT_FUZZ_SECONDS (default 60) as part of the suite (docs/security.md).
# Both builds leave out debug information (-g): it doubles the compile time of the Beast-heavy files
# and a test failure is reported by the test itself. -gline-tables-only keeps sanitizer reports
# symbolised. Build folders: build-test and build-sanitize.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
  -DLIBCHAT_WARNINGS_AS_ERRORS=ON
cmake --build build-test -j2
(cd build-test && ctest --output-on-failure -j2 --timeout 300)

CXX=clang++ cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DLIBCHAT_WARNINGS_AS_ERRORS=ON \
  -DLIBCHAT_SANITIZE=address,undefined -DLIBCHAT_FUZZ=ON -DLIBCHAT_FUZZ_SECONDS="${LIBCHAT_FUZZ_SECONDS:-60}" \
  -DLIBCHAT_BUILD_BENCHMARKS=OFF
cmake --build build-sanitize -j2
# The installed-package test builds the examples with the system compiler's plain flags, which cannot
# link sanitized libraries: it runs in the first build only.
(cd build-sanitize && ctest --output-on-failure -j2 --timeout 300 -LE install)
