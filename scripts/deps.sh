#!/usr/bin/env bash
# Installs the Debian 12 packages libchat builds and tests with. Idempotent: does nothing when all
# are present, so it is cheap to run before every build.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config
  # scripts/test_cache.py: a second test run reruns only the tests whose inputs changed.
  python3
  libboost-dev libboost-program-options-dev
  libleveldb-dev libsnappy-dev
  libsodium-dev libssl-dev libcurl4-openssl-dev
  nlohmann-json3-dev libcpp-httplib-dev catch2
  # The PostgreSQL store plugin (libpq) and the throw-away servers its tests start (initdb, pg_ctl;
  # contrib for pageinspect, which the erasure test reads pages with).
  libpq-dev postgresql-15 postgresql-contrib
  # The NATS bus plugin (nats.c) and the throw-away NATS cluster its tests start (nats-server 2.9).
  libnats-dev nats-server
  # The sanitizer and fuzz build of the test suite: clang, its sanitizer and libFuzzer runtimes,
  # llvm-symbolizer for readable reports, lld (links sanitized programs several times faster).
  clang libclang-rt-14-dev llvm lld
  # The web app's browser tests (tests/browser): Debian's Chromium, driven headless by playwright-core
  # from npm (tests/browser/npm-ci.sh); no browser is downloaded.
  chromium
  # The packaging tests: promtool checks the Prometheus alert rules (packaging/prometheus),
  # systemd-analyze verifies the unit, dpkg-deb (and dpkg-shlibdeps, in build-essential) make and
  # read the Debian package.
  prometheus systemd dpkg-dev
  # chat-loadgen --background-load stress-ng:N: load the machine on purpose while measuring (and its
  # integration test).
  stress-ng
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
