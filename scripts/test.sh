#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite, each test in the build that
# checks the most of what it can reach; the core's unit and concurrency tests again under TSan:
#  1. build-test: as built for production (gcc; libraries and tools at -O2), with the tests that only
#     an unsanitized build can run (LIBCHAT_TEST_SET=release; test code at -O0): installing libchat
#     into a scratch prefix and building the examples against the installed package, chatd's Debian
#     package, the web app in Chromium, chat-loadgen (it measures) and its tests, the cluster failover
#     tests that drive it, the scripts' own test. Every other test runs in build 2, under the
#     sanitizers: running it here as well made a cold run use 1,897+ CPU s instead of 1,511 (this
#     build alone 649 instead of 361), on two cores for 900 s (docs/benchmarks.md, "Build time",
#     eleventh round). LIBCHAT_RELEASE_TESTS=all builds and runs the whole suite here too.
#  2. build-sanitize: clang with AddressSanitizer and UndefinedBehaviorSanitizer, at -O0 (a third of
#     the compile time of -O1 under ASan; the sanitizers find the same bugs): the libraries, tools and
#     tests (not chat-loadgen, which measures and has its own tests in build 1; the test code itself
#     uninstrumented, LIBCHAT_SANITIZE_TEST_CODE=OFF: 258 CPU s to compile instead of 364, and the
#     code under test keeps its checks), and each libFuzzer
#     harness replaying its inputs and then run for LIBCHAT_FUZZ_SECONDS (default 60). Only the code
#     the harnesses reach (the core and the server) carries libFuzzer's coverage instrumentation.
#  3. build-tsan: clang with ThreadSanitizer at -O0, test code too (TSan reports the same races; the
#     build takes a third less CPU, the suite ~15 s more): only libchat::core and the tests labelled
#     unit and concurrency (ctest -L 'unit|concurrency').
# PostgreSQL: every build's tests that need a server (label postgres, the Store contract suites and,
# in build-tsan too, the history checker on PostgreSQL) share one throw-away server per ctest run
# (a CTest fixture: initdb in a temporary folder, a free port on 127.0.0.1, stopped by PID), from
# deps.sh's postgresql-15 in /usr/lib/postgresql/15/bin (LIBCHAT_TEST_PG_BIN to use others); they
# pass under ASan+UBSan and TSan and add about a minute of test time per build.
# No debug information (-g): it doubles the compile time of the Beast-heavy files and a failing test
# reports itself; -gline-tables-only keeps sanitizer reports symbolised. Ninja; ccache when installed
# (.ci/run keeps its cache outside the clone; the unity batches and the tests' precompiled header name
# no absolute path, so a clone in another folder hits the same entries). A second run rebuilds only
# what changed. The tests of one build run while the next one compiles, and beside the tests of the
# other builds: they mostly wait on sockets and processes, so ctest runs LIBCHAT_TEST_JOBS of them at
# once (default: three per core). Their output is in build-*/ctest.log, printed here when they end.
# A second run in the same folders runs only the tests whose inputs changed since they passed there
# (scripts/test_cache.py; LIBCHAT_TEST_CACHE=off runs them all): after a touch, or an edit that makes
# the same binaries, none; after an edit of one test file, that executable's tests; after a failed or
# stopped run, the tests that did not pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

start=$SECONDS
step() { echo "== test.sh: $1 (at $((SECONDS - start)) s)"; }
jobs=${LIBCHAT_JOBS:-$(nproc)}
# Extra configure arguments for every build, e.g. a timing launcher (docs/benchmarks.md).
read -ra extra <<< "${LIBCHAT_CMAKE_ARGS:-}"
common=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLIBCHAT_WARNINGS_AS_ERRORS=ON "${extra[@]}")
# The clang builds link with lld: a sanitized chatd links in 2 s of CPU instead of 14 s with GNU ld.
# Their programs are not position-independent (-no-pie): the suites start ~1,100 sanitized processes
# (chatd, chatctl, chat-migrate, the tests), and a sanitized PIE spends a third of its start applying
# ~940k relocations (UBSan's check data, ASan's global descriptors, libFuzzer's PC table): 0.126 CPU s
# a start instead of 0.177 (0.245 with shared libraries, tried: then the ASan suite took 399 CPU s, 291
# without PIE; docs/benchmarks.md, "Seventh round").
clang=(-DCMAKE_CXX_COMPILER=clang++ "-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -no-pie" -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld)

test_jobs=${LIBCHAT_TEST_JOBS:-$((3 * jobs))}
# Debian's (deps.sh): a python3 earlier in PATH may be a slower shim (pyenv's: 0.35 s a start).
python=/usr/bin/python3

# start_tests runs the tests of build $1 (labels matching $2, if given) in the background; finish_tests
# waits for them.
declare -A tests_pid=()
# A failed build or suite stops the script: stop the suites still running in the background, and
# every process their tests started. Each suite runs in a session of its own (setsid), so its process
# group holds ctest, the test processes and the chatd and PostgreSQL servers they started (a killed
# ctest alone left those running); SIGKILL after SIGTERM for any a test froze with SIGSTOP. The run's
# NATS cluster keeps a session of its own (it outlives the fixture test that starts it): its
# fixture's stop command ends it, as the cleanup test would have.
stop_suites() {
  [ ${#tests_pid[@]} -gt 0 ] || return 0
  for pid in "${tests_pid[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 2
  for pid in "${tests_pid[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for build in "${!tests_pid[@]}"; do
    "$python" scripts/test_cache.py record "$build" || true
    for ctl in nats pg; do
      if [ -f "$build/tests/$ctl-cluster.state" ] && [ -x "$build/tests/support/${ctl}_cluster_ctl" ]; then
        "$build/tests/support/${ctl}_cluster_ctl" stop "$build/tests/$ctl-cluster.state" > /dev/null 2>&1 || true
      fi
    done
  done
}
trap stop_suites EXIT
# A signal ends the script through exit, so that the EXIT trap runs (bash skips it when a signal's
# default action kills it).
trap 'exit 130' INT
trap 'exit 143' TERM
# Runs only the tests whose inputs changed since they last passed in this folder (scripts/test_cache.py:
# the test executable, the programs it starts, the scripts and data it reads, the installed
# packages); LIBCHAT_TEST_CACHE=off runs them all. A fresh clone (CI) has no results: it runs all.
start_tests() {
  local build=$1 labels=${2:-} selection selected=()
  selection=$("$python" scripts/test_cache.py select "$build" "$labels")
  if [ "$selection" = none ]; then
    step "$build tests: all passed before with the same inputs, none to run"
    return 0
  fi
  local args=()
  [ -z "$labels" ] || args+=(-L "$labels")
  read -ra selected <<< "$selection"
  step "$build tests (in the background)"
  setsid ctest --test-dir "$build" --output-on-failure -j"$test_jobs" --timeout 300 "${args[@]}" "${selected[@]}" \
    > "$build/ctest.log" 2>&1 &
  tests_pid[$build]=$!
}
finish_tests() {
  local build=$1 rc=0
  [ -n "${tests_pid[$build]:-}" ] || return 0
  wait "${tests_pid[$build]}" || rc=$?
  unset "tests_pid[$build]"
  "$python" scripts/test_cache.py record "$build"
  if [ $rc -ne 0 ]; then
    cat "$build/ctest.log"
    echo "== test.sh: $build tests FAILED (at $((SECONDS - start)) s)"
    exit $rc
  fi
  # The summary: pass counts, label times, total time.
  sed -n '/tests passed/,$p' "$build/ctest.log"
  step "$build tests passed"
}

step "gcc build"
# lld here too: a test executable links in 0.28 CPU s instead of 1.0 with GNU ld, and this build links
# ~120 programs (each again after a change to the core). lld is Debian's and links gcc's objects as
# they are; run-chatd.sh and a plain build keep the system linker.
cmake -S . -B build-test "${common[@]}" -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
  -DLIBCHAT_TEST_SET="${LIBCHAT_RELEASE_TESTS:-release}" > /dev/null
cmake --build build-test -j"$jobs"
start_tests build-test

step "clang ASan+UBSan build"
cmake -S . -B build-sanitize "${common[@]}" "${clang[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -gline-tables-only -DNDEBUG" \
  -DLIBCHAT_TEST_OPTIMIZATION=-O0 -DLIBCHAT_SANITIZE=address,undefined -DLIBCHAT_SANITIZE_TEST_CODE=OFF -DLIBCHAT_FUZZ=ON -DLIBCHAT_FUZZ_SECONDS="${LIBCHAT_FUZZ_SECONDS:-60}" \
  -DLIBCHAT_BUILD_LOADGEN=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF -DLIBCHAT_INSTALL=OFF > /dev/null
cmake --build build-sanitize -j"$jobs"
# The installed-package test builds the examples with the system compiler's plain flags, which cannot
# link sanitized libraries: it runs in the first build only (LIBCHAT_INSTALL=OFF leaves it out).
start_tests build-sanitize

step "clang TSan build (core, unit and concurrency tests)"
# -O0, test code too: 154 CPU s to build instead of 226 at -O1; the suite 30 CPU s instead of 17
# (docs/benchmarks.md, "Build time", fifth round).
cmake -S . -B build-tsan "${common[@]}" "${clang[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -gline-tables-only -DNDEBUG" \
  -DLIBCHAT_TEST_OPTIMIZATION=-O0 -DLIBCHAT_SANITIZE=thread -DLIBCHAT_WITH_SERVER=OFF -DLIBCHAT_WITH_ADMIN=OFF -DLIBCHAT_WITH_CURL=OFF \
  -DLIBCHAT_BUILD_TOOLS=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF -DLIBCHAT_INSTALL=OFF > /dev/null
cmake --build build-tsan -j"$jobs" --target tests-unit tests-concurrency
# Debian's LevelDB is not built with TSan: its lock-free memtable reads are suppressed (tests/tsan.supp).
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1"
start_tests build-tsan 'unit|concurrency'
finish_tests build-test
finish_tests build-sanitize
finish_tests build-tsan
step "done: every test passed"
