#!/usr/bin/env bash
# The tails matrix of issue 17 (docs/benchmarks.md, "Tails on a busy machine"): rates x client mixes x
# machine state (quiet / loaded on purpose with stress-ng --cpu 2) x variants, REPS times, every cell
# interleaved (per repetition, per rate, per mix, per machine state, each variant in turn), one chatd
# per variant (its own data folder and port), 10 s runs.
#
# Variants (VARIANTS, default "base server"):
#   base    chatd and chat-loadgen at nice 0
#   client  chat-loadgen at nice -10 (the measuring client no longer starved)
#   server  chatd and chat-loadgen at nice -10 (the server prioritised over the background work)
# (The variants on and serverslice, a 100 us scheduler slice, measured the LIBCHAT_THREAD_SLICE_US
# experiment; it was removed: docs/benchmarks.md, "Tails on a quiet machine".)
# The background load always runs at nice 0. MIXES (default "rotate all"): rotate is chat-loadgen's
# default; all is the issue's mix (--senders all --count-own-device --body-bytes 128).
# Usage: [VARIANTS=...] [MIXES=...] matrix.sh CHATD LOADGEN OUTDIR [REPS] [DURATION] [RATES]
# Then: python3 bench/tails/summarize.py OUTDIR
set -u
CHATD=$1; LG=$2; OUT=$3; REPS=${4:-3}; DUR=${5:-10}; RATES=${6:-"100 500 2000"}
LOADS=${LOADS:-"quiet loaded"}; MIXES=${MIXES:-"rotate all"}; VARIANTS=${VARIANTS:-"base server"}
mkdir -p "$OUT"
declare -A PORTS=([base]=9441 [client]=9442 [server]=9443)
declare -A SNICE=([base]=0 [client]=0 [server]=-10)
declare -A LNICE=([base]=0 [client]=-10 [server]=-10)
declare -A PIDS
# Stop exactly the servers this run started, however it ends.
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done' EXIT
for v in $VARIANTS; do
  nice -n ${SNICE[$v]} "$CHATD" --data-dir "$OUT/data-$v" \
    --listen 127.0.0.1:${PORTS[$v]} --password-cost minimum --log-level warning --max-connections 10500 \
    --rate-limits off --spam off --max-connections-per-address 0 > "$OUT/chatd-$v.log" 2>&1 &
  PIDS[$v]=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:${PORTS[$v]}/readyz > /dev/null && break; sleep 0.1; done
  # Provisioning (not measured).
  "$LG" --url ws://127.0.0.1:${PORTS[$v]}/ws --clients 1000 --group-size 100 --state "$OUT/state-$v.json" \
    --rate 100 --duration 2 --json --quiet > "$OUT/provision-$v.json" 2>&1
done
for rep in $(seq $REPS); do for rate in $RATES; do for mix in $MIXES; do for load in $LOADS; do for v in $VARIANTS; do
  args=(--url ws://127.0.0.1:${PORTS[$v]}/ws --clients 1000 --group-size 100 --state "$OUT/state-$v.json"
        --rate $rate --duration $DUR --json --quiet)
  [ $mix = all ] && args+=(--senders all --count-own-device --body-bytes 128)
  # nice -n is relative to the caller's: this puts the background load back at 0.
  [ $load = loaded ] && args+=(--background-load "cmd:exec nice -n $(( - ${LNICE[$v]} )) stress-ng --cpu 2 --quiet")
  name=$rep-$rate-$mix-$load-$v
  # What else ran: the load average and the busiest processes, per run.
  { date -u +%T; cat /proc/loadavg; ps -eo pcpu,ni,comm --sort=-pcpu | head -8; } > "$OUT/$name.ps"
  nice -n ${LNICE[$v]} "$LG" "${args[@]}" > "$OUT/$name.out" 2>&1
  tail -1 "$OUT/$name.out" > "$OUT/$name.json"
  echo "$name $(python3 -c "import json; j=json.load(open('$OUT/$name.json')); print(j['ok'], j['latency_ms']['p99'], j['lost'])" 2>&1)" | tee -a "$OUT/summary.txt"
done; done; done; done; done
for v in $VARIANTS; do kill ${PIDS[$v]}; wait ${PIDS[$v]} 2>/dev/null; unset "PIDS[$v]"; done
