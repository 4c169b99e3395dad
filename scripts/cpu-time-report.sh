#!/usr/bin/env bash
# cpu-time-report.sh LOG: sums a cpu-time.sh log per target (CMakeFiles/<target>.dir) and in total,
# in CPU seconds (user + sys), largest first.
set -euo pipefail
awk '{
  cpu = $1 + $2; total += cpu; out = $4
  if (match(out, /CMakeFiles\/[^\/]+\.dir/)) t = substr(out, RSTART + 11, RLENGTH - 15); else t = "(link) " out
  sum[t] += cpu; n[t]++
} END {
  for (t in sum) printf "%8.1f %4d %s\n", sum[t], n[t], t
  printf "%8.1f      TOTAL (CPU s, files)\n", total
}' "$1" | sort -rn
