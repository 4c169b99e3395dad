#!/usr/bin/env bash
# run-fuzzer.sh FUZZER SECONDS WORKDIR SEED_DIR... DICT
# Runs a libFuzzer program for SECONDS on a fresh corpus grown from the seed folders, with the
# dictionary. Exit status: libFuzzer's (non-zero on a crash, a leak, a sanitizer report or a timeout;
# the input that found it is left in WORKDIR, to be added to fuzz/regressions/).
# It runs at a lower priority (nice 10): the time is fixed, so in the test suite it fuzzes with the
# CPU the other tests leave (they mostly wait on sockets) instead of slowing them down.
set -euo pipefail
fuzzer=$1 seconds=$2 workdir=$3
shift 3
dict=${@: -1}
seeds=("${@:1:$#-1}")
rm -rf "$workdir/corpus"
mkdir -p "$workdir/corpus"
cd "$workdir"
exec nice -n 10 "$fuzzer" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=8192 \
  -print_final_stats=1 -dict="$dict" -artifact_prefix="$workdir/" corpus "${seeds[@]}"
