#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite in three builds:
#  1. build-test: as built for production (gcc; libraries and tools at -O2, test code at -O1). The
#     suite includes installing libchat into a scratch prefix and building the examples against the
#     installed package.
#  2. build-sanitize: clang with AddressSanitizer and UndefinedBehaviorSanitizer: the libraries,
#     tools and tests (not chat-loadgen, which measures and has its own tests in build 1), and each
#     libFuzzer harness replaying its inputs and then run for LIBCHAT_FUZZ_SECONDS (default 60). Only
#     the code the harnesses reach (the core and the server) carries libFuzzer's coverage
#     instrumentation.
#  3. build-tsan: clang with ThreadSanitizer: only libchat::core and the tests labelled unit and
#     concurrency (ctest -L 'unit|concurrency').
# No debug information (-g): it doubles the compile time of the Beast-heavy files and a failing test
# reports itself; -gline-tables-only keeps sanitizer reports symbolised. Ninja; ccache when installed
# (.ci/run keeps its cache outside the clone). A second run rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

start=$SECONDS
step() { echo "== test.sh: $1 (at $((SECONDS - start)) s)"; }
jobs=${LIBCHAT_JOBS:-$(nproc)}
common=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLIBCHAT_WARNINGS_AS_ERRORS=ON)
clang_flags="-O1 -gline-tables-only -DNDEBUG"

step "gcc build"
cmake -S . -B build-test "${common[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" > /dev/null
cmake --build build-test -j"$jobs"
step "gcc tests"
ctest --test-dir build-test --output-on-failure -j"$jobs" --timeout 300

step "clang ASan+UBSan build"
CXX=clang++ cmake -S . -B build-sanitize "${common[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$clang_flags" \
  -DLIBCHAT_SANITIZE=address,undefined -DLIBCHAT_FUZZ=ON -DLIBCHAT_FUZZ_SECONDS="${LIBCHAT_FUZZ_SECONDS:-60}" \
  -DLIBCHAT_BUILD_LOADGEN=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF -DLIBCHAT_INSTALL=OFF > /dev/null
cmake --build build-sanitize -j"$jobs"
step "clang ASan+UBSan tests"
# The installed-package test builds the examples with the system compiler's plain flags, which cannot
# link sanitized libraries: it runs in the first build only (LIBCHAT_INSTALL=OFF leaves it out).
ctest --test-dir build-sanitize --output-on-failure -j"$jobs" --timeout 300

step "clang TSan build (core, unit and concurrency tests)"
CXX=clang++ cmake -S . -B build-tsan "${common[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$clang_flags" \
  -DLIBCHAT_SANITIZE=thread -DLIBCHAT_WITH_SERVER=OFF -DLIBCHAT_WITH_ADMIN=OFF -DLIBCHAT_WITH_CURL=OFF \
  -DLIBCHAT_BUILD_TOOLS=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF -DLIBCHAT_INSTALL=OFF > /dev/null
cmake --build build-tsan -j"$jobs" --target tests-unit tests-concurrency
step "clang TSan tests"
ctest --test-dir build-tsan --output-on-failure -j"$jobs" --timeout 300 -L 'unit|concurrency'
step "done"
