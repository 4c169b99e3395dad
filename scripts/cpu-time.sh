#!/usr/bin/env bash
# cpu-time.sh LOG COMMAND...: runs COMMAND and appends "user-s sys-s wall-s output" to LOG. A compiler
# and linker launcher for measuring the build per file in CPU time, which other work on the machine
# barely changes (wall time does):
#   CCACHE_DISABLE=1 cmake -S . -B build-time -G Ninja ... \
#     "-DCMAKE_CXX_COMPILER_LAUNCHER=$PWD/scripts/cpu-time.sh;/tmp/times.log" \
#     "-DCMAKE_CXX_LINKER_LAUNCHER=$PWD/scripts/cpu-time.sh;/tmp/times.log"
#   cmake --build build-time && bash scripts/cpu-time-report.sh /tmp/times.log
set -euo pipefail
log=$1
shift
out="" prev=""
for a in "$@"; do
  [ "$prev" = "-o" ] && out=$a
  prev=$a
done
exec /usr/bin/time -a -o "$log" -f "%U %S %e $out" "$@"
