#!/usr/bin/env bash
# The tails matrix of issue 17, with the short-slice fix off and on (two chatd of one build, the
# variable LIBCHAT_THREAD_SLICE_US=0 for "off", =100 for "on"), interleaved: per repetition, per rate, per mix, per
# machine state (quiet / loaded with stress-ng:2), off then on.
# Usage: matrix.sh CHATD LOADGEN OUTDIR [REPS] [DURATION] [RATES]
set -u
CHATD=$1; LG=$2; OUT=$3; REPS=${4:-3}; DUR=${5:-10}; RATES=${6:-"100 500 2000"}
LOADS=${LOADS:-"quiet loaded"}; MIXES=${MIXES:-"rotate all"}; VARIANTS=${VARIANTS:-"off on"}
mkdir -p "$OUT"
declare -A PORTS=([off]=9421 [on]=9422)
declare -A PIDS
for v in $VARIANTS; do
  slice=100; [ $v = off ] && slice=0
  LIBCHAT_THREAD_SLICE_US=$slice "$CHATD" --data-dir "$OUT/data-$v" --listen 127.0.0.1:${PORTS[$v]} --password-cost minimum \
    --log-level warning --max-connections 10500 --rate-limits off --spam off --max-connections-per-address 0 > "$OUT/chatd-$v.log" 2>&1 &
  PIDS[$v]=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:${PORTS[$v]}/readyz > /dev/null && break; sleep 0.1; done
  "$LG" --url ws://127.0.0.1:${PORTS[$v]}/ws --clients 1000 --group-size 100 --state "$OUT/state-$v.json" --rate 100 --duration 2 --json --quiet > "$OUT/provision-$v.json" 2>&1
done
for rep in $(seq $REPS); do for rate in $RATES; do for mix in $MIXES; do for load in $LOADS; do for v in $VARIANTS; do
  args=(--url ws://127.0.0.1:${PORTS[$v]}/ws --clients 1000 --group-size 100 --state "$OUT/state-$v.json" --rate $rate --duration $DUR --json --quiet)
  [ $mix = all ] && args+=(--senders all --count-own-device --body-bytes 128)
  [ $load = loaded ] && args+=(--background-load stress-ng:2)
  name=$rep-$rate-$mix-$load-$v
  { date -u +%T; cat /proc/loadavg; ps -eo pcpu,comm --sort=-pcpu | head -6; } > "$OUT/$name.ps"
  "$LG" "${args[@]}" > "$OUT/$name.out" 2>&1
  tail -1 "$OUT/$name.out" > "$OUT/$name.json"
  python3 -c "
import json
j=json.load(open('$OUT/$name.json'))
l=j.get('latency_ms',{}); s=j.get('server',{}); st=s.get('stages_ms',{})
print('$name', 'ok' if j.get('ok') else 'FAIL', 'd/s %.0f'%j.get('deliveries_per_s',0), 'p50 %.1f p99 %.1f p999 %.1f'%(l.get('p50',0),l.get('p99',0),l.get('p999',0)), 'lost',j.get('lost'), 'cpu',s.get('cpu_us_per_delivery'), 'la %.1f'%j['machine']['loadavg_1m_before'], ' '.join('%s:%.2f'%(k[:9],v['p99']) for k,v in st.items()))
" 2>&1 | tee -a "$OUT/summary.txt"
done; done; done; done; done
for v in $VARIANTS; do kill ${PIDS[$v]}; wait ${PIDS[$v]} 2>/dev/null; done
