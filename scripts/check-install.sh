#!/usr/bin/env bash
# Installs the build in $1 into a scratch prefix and checks what an embedder gets: stripped programs
# and archives without debug information (cmake --install strips by default), libchat::admin with
# libchat/admin.h, a pkg-config file a non-CMake build links with; then builds every example against
# the prefix with find_package(libchat), as another product would, and runs the embed example.
set -euo pipefail
build=${1:-build}
prefix=$(mktemp -d /tmp/libchat-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > /dev/null
fail() { echo "check-install: $*" >&2; exit 1; }
# The programs below compile through ccache when it is installed (~18 CPU s a run otherwise): every
# path they see is under the scratch prefix (the examples are copied there), which is ccache's base
# folder, so the next run's prefix, under another name, hits the same entries.
launcher=()
if command -v ccache > /dev/null; then
  launcher=(ccache)
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR="$prefix" CCACHE_NOHASHDIR=1
fi
cp -r examples "$prefix/examples-src"

# Stripped: no DWARF in the programs nor in the archives.
for f in "$prefix"/bin/* "$prefix"/lib/libchat_*.a; do
  [ -e "$f" ] || continue
  if readelf -S "$f" 2>/dev/null | grep -q '\.debug_info'; then fail "$f carries debug information"; fi
done
echo "check-install: programs and archives are stripped ($(du -sh "$prefix" | cut -f1) in all)"
# The admin API for embedders.
[ -f "$prefix/include/libchat/admin.h" ] || fail "libchat/admin.h is not installed"
[ -f "$prefix/lib/libchat_admin.a" ] || fail "libchat_admin.a is not installed"
grep -q 'libchat::admin' "$prefix"/lib/cmake/libchat/libchatTargets.cmake || fail "libchat::admin is not exported"
# pkg-config: a program built without CMake.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists libchat || fail "no libchat.pc"
cat > "$prefix/pc.cc" <<'CC'
#include <cstdio>
#include "libchat/libchat.h"
int main() {
  chat::Registry registry;  // The core's built-in backends (Registry::Default() is libchat::plugins').
  auto store = registry.MakeStore("mem://");
  std::printf("libchat %s via pkg-config: %s\n", LIBCHAT_VERSION_STRING, store.ok() ? "store opened" : "no store");
  return store.ok() ? 0 : 1;
}
CC
# (Compiled, then linked: ccache caches compiles only.)
# shellcheck disable=SC2046
(cd "$prefix" && "${launcher[@]}" c++ -c -o pc.o pc.cc $(pkg-config --cflags libchat) \
   && c++ -o pc pc.o $(pkg-config --libs libchat)) || fail "a program does not build with pkg-config"
"$prefix/pc"

# libchat::admin links from the installed package (cpp-httplib and libsodium found by libchatConfig).
mkdir -p "$prefix/admin-src"
cat > "$prefix/admin-src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(admin_check LANGUAGES CXX)
find_package(libchat REQUIRED)
add_executable(admin_check main.cc)
target_compile_features(admin_check PRIVATE cxx_std_20)
target_link_libraries(admin_check PRIVATE libchat::admin)
CM
cat > "$prefix/admin-src/main.cc" <<'CC'
#include <cstdio>
#include "libchat/admin.h"
int main() {
  const bool weak = !chat::AdminServer::CheckToken("aaaaaaaaaaaaaaaa").ok();
  const bool strong = chat::AdminServer::CheckToken("k3J9x-Qv2LmZ8wR4tY6u").ok();
  std::printf("libchat::admin links: token checks %s\n", weak && strong ? "as documented" : "WRONG");
  return weak && strong ? 0 : 1;
}
CC
cmake -S "$prefix/admin-src" -B "$prefix/build-admin" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$prefix/build-admin" -j2 > /dev/null || fail "a program does not build with libchat::admin"
"$prefix/build-admin/admin_check"

for ex in "$prefix"/examples-src/*/; do
  name=$(basename "$ex")
  cmake -S "$ex" -B "$prefix/build-$name" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
  cmake --build "$prefix/build-$name" -j2 > /dev/null
  echo "check-install: examples/$name builds against the installed package"
done
"$prefix/build-embed/embed"
