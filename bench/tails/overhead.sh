#!/usr/bin/env bash
# CPU per delivery before (base) and after (stages) the stage histograms: interleaved, REPS times.
# Usage: overhead.sh BINDIR OUTDIR [REPS] [RATES], with BINDIR/base/chatd, BINDIR/stages/chatd and
# BINDIR/chat-loadgen (docs/benchmarks.md, "Tails on a busy machine").
set -u
BIN=$1; OUT=$2; REPS=${3:-3}; RATES=${4:-"2000 500"}
LG=$BIN/chat-loadgen
PORT=9418
mkdir -p $OUT
start() {  # variant
  $BIN/$1/chatd --data-dir $OUT/data-$1 --listen 127.0.0.1:$PORT --password-cost minimum --log-level warning \
    --max-connections 10500 --rate-limits off --spam off --max-connections-per-address 0 > $OUT/chatd-$1.log 2>&1 &
  CPID=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/readyz > /dev/null && break; sleep 0.1; done
}
for v in base stages; do
  start $v
  $LG --url ws://127.0.0.1:$PORT/ws --clients 1000 --group-size 100 --state $OUT/state-$v.json --rate 100 --duration 2 --json --quiet > /dev/null 2>&1
  kill $CPID; wait $CPID
done
for rep in $(seq $REPS); do for rate in $RATES; do for v in base stages; do
  start $v
  $LG --url ws://127.0.0.1:$PORT/ws --clients 1000 --group-size 100 --state $OUT/state-$v.json --rate $rate --duration 10 --json --quiet > $OUT/$rep-$rate-$v.out 2>&1
  kill $CPID; wait $CPID
  tail -1 $OUT/$rep-$rate-$v.out | python3 -c "
import json,sys; j=json.load(sys.stdin); s=j['server']
print('$rep $rate $v', 'ok' if j['ok'] else 'FAIL', 'cpu_us/deliv', s.get('cpu_us_per_delivery'), 'p99', j['latency_ms']['p99'], 'deliv/s', j['deliveries_per_s'], 'load', j['machine']['loadavg_1m_before'])" | tee -a $OUT/summary.txt
done; done; done
