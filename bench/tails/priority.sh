#!/usr/bin/env bash
# Who needs the CPU under load: the same matrix with chatd and/or chat-loadgen given priority over the
# background work (nice -10), the background load always at nice 0 (stress-ng --cpu 2), interleaved:
#   base   chatd 0,   loadgen 0
#   client chatd 0,   loadgen -10   (the measuring client no longer starved: it stands for devices elsewhere)
#   server chatd -10, loadgen -10   (and the server prioritised over the background work too)
# Usage: priority.sh CHATD LOADGEN OUTDIR [REPS] [DURATION] [RATES]
set -u
CHATD=$1; LG=$2; OUT=$3; REPS=${4:-3}; DUR=${5:-10}; RATES=${6:-"100 500 2000"}
LOADS=${LOADS:-"quiet loaded"}; MIXES=${MIXES:-"all"}; VARIANTS=${VARIANTS:-"base client server"}
mkdir -p "$OUT"
declare -A PORTS=([base]=9441 [client]=9442 [server]=9443)
declare -A SNICE=([base]=0 [client]=0 [server]=-10)
declare -A LNICE=([base]=0 [client]=-10 [server]=-10)
declare -A PIDS
for v in $VARIANTS; do
  LIBCHAT_THREAD_SLICE_US=0 nice -n ${SNICE[$v]} "$CHATD" --data-dir "$OUT/data-$v" --listen 127.0.0.1:${PORTS[$v]} --password-cost minimum \
    --log-level warning --max-connections 10500 --rate-limits off --spam off --max-connections-per-address 0 > "$OUT/chatd-$v.log" 2>&1 &
  PIDS[$v]=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:${PORTS[$v]}/readyz > /dev/null && break; sleep 0.1; done
  "$LG" --url ws://127.0.0.1:${PORTS[$v]}/ws --clients 1000 --group-size 100 --state "$OUT/state-$v.json" --rate 100 --duration 2 --json --quiet > "$OUT/provision-$v.json" 2>&1
done
for rep in $(seq $REPS); do for rate in $RATES; do for mix in $MIXES; do for load in $LOADS; do for v in $VARIANTS; do
  args=(--url ws://127.0.0.1:${PORTS[$v]}/ws --clients 1000 --group-size 100 --state "$OUT/state-$v.json" --rate $rate --duration $DUR --json --quiet)
  [ $mix = all ] && args+=(--senders all --count-own-device --body-bytes 128)
  # The background load at nice 0 whatever the loadgen's nice (nice -n is relative to the caller's).
  [ $load = loaded ] && args+=(--background-load "cmd:exec nice -n $(( - ${LNICE[$v]} )) stress-ng --cpu 2 --quiet")
  name=$rep-$rate-$mix-$load-$v
  { date -u +%T; cat /proc/loadavg; ps -eo pcpu,ni,comm --sort=-pcpu | head -8; } > "$OUT/$name.ps"
  nice -n ${LNICE[$v]} "$LG" "${args[@]}" > "$OUT/$name.out" 2>&1
  tail -1 "$OUT/$name.out" > "$OUT/$name.json"
  python3 -c "
import json
j=json.load(open('$OUT/$name.json'))
l=j.get('latency_ms',{}); s=j.get('server',{}); st=s.get('stages_ms',{})
print('$name', 'ok' if j.get('ok') else 'FAIL', 'd/s %.0f'%j.get('deliveries_per_s',0), 'p50 %.1f p99 %.1f p999 %.1f'%(l.get('p50',0),l.get('p99',0),l.get('p999',0)), 'lost',j.get('lost'), 'cpu',s.get('cpu_us_per_delivery'), 'la %.1f'%j['machine']['loadavg_1m_before'], ' '.join('%s:%.2f'%(k[:9],v['p99']) for k,v in st.items()))
" 2>&1 | tee -a "$OUT/summary.txt"
done; done; done; done; done
for v in $VARIANTS; do kill ${PIDS[$v]}; wait ${PIDS[$v]} 2>/dev/null; done
