#!/usr/bin/env bash
# Installs the build in $1 into a scratch prefix and builds every example against it with
# find_package(libchat), as another product would; then runs the embed example.
set -euo pipefail
build=${1:-build}
prefix=$(mktemp -d /tmp/libchat-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
for ex in examples/*/; do
  name=$(basename "$ex")
  cmake -S "$ex" -B "$prefix/build-$name" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
  cmake --build "$prefix/build-$name" -j2 > /dev/null
  echo "check-install: examples/$name builds against the installed package"
done
"$prefix/build-embed/embed"
