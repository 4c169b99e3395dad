#!/usr/bin/env bash
# Cross-node delivery on one machine (docs/benchmarks.md, "Several nodes"): starts a cluster with
# scripts/run-cluster.sh (NATS x3, PostgreSQL primary + synchronous standby, three chatd), then runs
# chat-loadgen against node-0 alone ("1 node": every delivery stays on the node) and against the
# three nodes ("3 nodes": clients spread over them, 2 of 3 deliveries cross the bus), interleaved,
# REPS times each. Prints one line per run: deliveries/s, p50/p99, chatd CPU and NATS CPU per delivery.
#
#   bash bench/cluster-bench.sh BUILD_DIR [REPS=3] [RATE=100] [DURATION=15] [CLIENTS=600] [GROUP=100]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:?usage: cluster-bench.sh BUILD_DIR [REPS] [RATE] [DURATION] [CLIENTS] [GROUP]}" && pwd)
reps=${2:-3}
rate=${3:-100}
duration=${4:-15}
clients=${5:-600}
group=${6:-100}
out=$(mktemp -d /tmp/cluster-bench-XXXXXX)

RUN_CLUSTER_CHATD=$build/tools/chatd/chatd RUN_CLUSTER_CHATCTL=$build/tools/chatctl/chatctl \
  bash scripts/run-cluster.sh --no-deps -- --password-cost minimum --rate-limits off --spam off \
  --max-connections-per-address 0 --max-connections 5000 --log-level warning > "$out/cluster.out" 2>&1 &
cluster=$!
trap 'kill -TERM $cluster 2> /dev/null; wait $cluster 2> /dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 600); do
  grep -q "^run-cluster: pids " "$out/cluster.out" && break
  kill -0 $cluster 2> /dev/null || { cat "$out/cluster.out" >&2; exit 1; }
  sleep 0.1
done
read -r -a ports <<< "$(grep -o 'node-[0-9] 127.0.0.1:[0-9]*' "$out/cluster.out" | head -3 | sed 's/.*://' | tr '\n' ' ')"
nats_pids=$(sed -n 's/.*nats=\([0-9 ]*\) postgres=.*/\1/p' "$out/cluster.out")
pg_pids=$(sed -n 's/.*postgres=\([0-9 ]*\)$/\1/p' "$out/cluster.out")

# User + system CPU seconds of some processes (and of a postmaster's children: its backends).
cpu_of() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
pg_all() { local p; for p in $pg_pids; do echo "$p"; pgrep -P "$p" || true; done; }

one="ws://127.0.0.1:${ports[0]}/ws"
three="ws://127.0.0.1:${ports[0]}/ws,ws://127.0.0.1:${ports[1]}/ws,ws://127.0.0.1:${ports[2]}/ws"
# A gentler resume (60 devices at a time): 600 devices resuming at once in groups of 100 make a burst
# of presence events that closes some sessions as slow consumers (1008), more often across nodes.
LG=("$build/tools/chat-loadgen/chat-loadgen" --json --quiet --clients "$clients" --group-size "$group" --threads 1
    --setup-concurrency 60)
# Provision both layouts once (separate state files: the state is keyed by the URL list).
"${LG[@]}" --url "$one" --state "$out/one.json" --rate 10 --duration 1 > /dev/null
"${LG[@]}" --url "$three" --state "$out/three.json" --rate 10 --duration 1 > /dev/null

hz=$(getconf CLK_TCK)
printf 'run\tnodes\tdeliveries/s\tp50 ms\tp99 ms\tlost\tchatd µs/delivery\tNATS µs/delivery\tPostgreSQL µs/delivery\n'
for rep in $(seq 1 "$reps"); do
  for nodes in 1 3; do
    if [ $nodes = 1 ]; then url=$one state=$out/one.json; else url=$three state=$out/three.json; fi
    n0=$(cpu_of $nats_pids)
    p0=$(cpu_of $(pg_all))
    # A failed run (loss, refused sends) still prints its report: shown, with its failure.
    j=$("${LG[@]}" --url "$url" --state "$state" --rate "$rate" --duration "$duration" | tail -1) || true
    n1=$(cpu_of $nats_pids)
    p1=$(cpu_of $(pg_all))
    python3 - "$rep" "$nodes" "$j" "$((n1 - n0))" "$((p1 - p0))" "$hz" << 'PY'
import json, sys
rep, nodes, j, nats, pg, hz = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
d = max(j["delivered"], 1)
print("\t".join(str(x) for x in [rep, nodes, j["deliveries_per_s"], j["latency_ms"]["p50"], j["latency_ms"]["p99"],
      j["lost"] + j["duplicates"] + j["reordered"] if j["ok"] else "FAILED: " + j.get("failure", "?"),
      j["server"].get("cpu_us_per_delivery", "?"),
      round(nats / hz * 1e6 / d, 2), round(pg / hz * 1e6 / d, 2)]))
PY
  done
done
exit 0
