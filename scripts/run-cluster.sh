#!/usr/bin/env bash
# Runs a whole libchat cluster on this machine, on loopback ports, in a temporary folder: three NATS
# servers joined by routes, a PostgreSQL primary with a synchronous streaming standby, and three chatd
# nodes that share them (docs/scaling.md). Installs what is missing (scripts/deps.sh), builds chatd and
# chatctl (in build/), prints how to connect, and on Ctrl-C (or any exit) stops every process it
# started, by its PID, and removes the folder.
#
#   bash scripts/run-cluster.sh              # ports chosen free; Ctrl-C stops everything
#   RUN_CLUSTER_CHATD=... RUN_CLUSTER_CHATCTL=... bash scripts/run-cluster.sh --no-deps   # prebuilt binaries (tests)
#
# Options: --no-deps (do not run deps.sh), --keep (leave the folder, with the logs, at the end).
# Extra arguments after -- go to every chatd.
set -euo pipefail
cd "$(dirname "$0")/.."

deps=1
keep=0
chatd_extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-deps) deps=0 ;;
    --keep) keep=1 ;;
    --) shift; chatd_extra=("$@"); break ;;
    *) echo "run-cluster: unknown option $1 (--no-deps, --keep, -- CHATD_ARGS...)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$deps" = 1 ]; then bash scripts/deps.sh; fi
if [ -z "${RUN_CLUSTER_CHATD:-}" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
    -DLIBCHAT_BUILD_TESTS=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF > /dev/null
  cmake --build build -j"$(nproc)" --target chatd chatctl chat-loadgen
  RUN_CLUSTER_CHATD=$PWD/build/tools/chatd/chatd
  RUN_CLUSTER_CHATCTL=$PWD/build/tools/chatctl/chatctl
fi
RUN_CLUSTER_CHATCTL=${RUN_CLUSTER_CHATCTL:-chatctl}
PGBIN=${LIBCHAT_PG_BIN:-/usr/lib/postgresql/15/bin}
NATS_BIN=${LIBCHAT_NATS_SERVER:-/usr/sbin/nats-server}

dir=$(mktemp -d /tmp/libchat-cluster-XXXXXX)
chmod 755 "$dir"  # PostgreSQL's own account must reach its folders below.
pids_chatd=()
pids_nats=()
pids_pg=()

# PostgreSQL refuses to run as root: as root, its folders and processes are the postgres account's.
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
pg_dir() { mkdir -p "$1"; if [ ${#as_pg[@]} -gt 0 ]; then chown postgres: "$1"; fi; chmod 700 "$1"; }

stop_all() {
  trap - EXIT INT TERM
  echo "run-cluster: stopping (chatd ${pids_chatd[*]:-}; nats ${pids_nats[*]:-}; postgres ${pids_pg[*]:-})"
  for p in "${pids_chatd[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${pids_chatd[@]}"; do wait "$p" 2> /dev/null || true; done
  for p in "${pids_nats[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${pids_nats[@]}"; do wait "$p" 2> /dev/null || true; done
  # PostgreSQL: SIGINT is its fast shutdown. The standby first (it was started last).
  local i
  for ((i = ${#pids_pg[@]} - 1; i >= 0; i--)); do
    local p=${pids_pg[$i]}
    kill -INT "$p" 2> /dev/null || true
    for _ in $(seq 1 300); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
  done
  if [ "$keep" = 1 ]; then echo "run-cluster: logs kept in $dir"; else rm -rf "$dir"; fi
  echo "run-cluster: stopped"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free loopback ports: random ones nothing answers on (checked with bash's /dev/tcp), distinct, below
# the kernel's ephemeral range (a port an outgoing connection holds as its own cannot be listened on).
free_ports() {
  local out=() p low=32768
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null || true
  while [ ${#out[@]} -lt "$1" ]; do
    p=$((10000 + RANDOM % (low - 10000)))
    case " ${out[*]} " in *" $p "*) continue ;; esac
    if ! (: < "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then out+=("$p"); fi
  done
  echo "${out[*]}"
}
# GET http://127.0.0.1:$1$2 with bash alone (the body; empty on failure).
http_get() {
  (exec 3<> "/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 && cat <&3) 2> /dev/null || true
}
read -r -a ports <<< "$(free_ports 17)"
nats_client=("${ports[@]:0:3}")
nats_route=("${ports[@]:3:3}")
nats_http=("${ports[@]:6:3}")
pg_port=("${ports[@]:9:2}")
chat_port=("${ports[@]:11:3}")
admin_port=("${ports[@]:14:3}")

# ---- NATS: three servers, routes between them ----
routes=$(printf 'nats-route://127.0.0.1:%s, ' "${nats_route[@]}")
for i in 0 1 2; do
  cat > "$dir/nats$i.conf" << CONF
server_name: n$i
listen: 127.0.0.1:${nats_client[$i]}
http: 127.0.0.1:${nats_http[$i]}
# JetStream holds the buckets the chatd nodes share (presence, heartbeats, throttle, rate limits):
# in memory, bounded (docs/scaling.md, "Cluster-wide state").
jetstream {
  store_dir: "$dir/js$i"
  max_memory_store: 256MB
  max_file_store: 64MB
}
cluster {
  name: libchat-local
  listen: 127.0.0.1:${nats_route[$i]}
  routes: [${routes%, }]
}
CONF
  "$NATS_BIN" -c "$dir/nats$i.conf" > "$dir/nats$i.log" 2>&1 &
  pids_nats+=($!)
done
# Ready when every server has routes to the two others.
for i in 0 1 2; do
  for attempt in $(seq 1 300); do
    http_get "${nats_http[$i]}" /routez | grep -q '"num_routes": 2' && break
    if [ "$attempt" = 300 ]; then
      echo "run-cluster: nats server $i did not join the cluster; its log:" >&2
      tail -20 "$dir/nats$i.log" >&2
      exit 1
    fi
    sleep 0.1
  done
done

# ---- PostgreSQL: a primary and a synchronous streaming standby ----
pg_dir "$dir/pg0"
pg_dir "$dir/sock"
pg_dir "$dir/pglog"
"${as_pg[@]}" "$PGBIN/initdb" -D "$dir/pg0" -U postgres --auth=trust -E UTF8 --locale=C > "$dir/initdb.log" 2>&1
pg_opts() {
  echo "-c listen_addresses=127.0.0.1 -c port=$1 -c unix_socket_directories=$dir/sock -c max_connections=200"
}
"${as_pg[@]}" "$PGBIN/pg_ctl" start -w -t 60 -D "$dir/pg0" -l "$dir/pglog/pg0.log" \
  -o "$(pg_opts "${pg_port[0]}") -c synchronous_standby_names='ANY 1 (standby1)'" > /dev/null
pids_pg+=("$(head -1 "$dir/pg0/postmaster.pid")")
pg_dir "$dir/pg1"
"${as_pg[@]}" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "${pg_port[0]}" -U postgres -D "$dir/pg1" -X stream -R \
  --checkpoint=fast > "$dir/basebackup.log" 2>&1
"${as_pg[@]}" "$PGBIN/pg_ctl" start -w -t 60 -D "$dir/pg1" -l "$dir/pglog/pg1.log" \
  -o "$(pg_opts "${pg_port[1]}") -c \"primary_conninfo=host=127.0.0.1 port=${pg_port[0]} user=postgres application_name=standby1\"" \
  > /dev/null
pids_pg+=("$(head -1 "$dir/pg1/postmaster.pid")")
"$PGBIN/psql" -h 127.0.0.1 -p "${pg_port[0]}" -U postgres -q -c "CREATE DATABASE chat" > /dev/null
store="postgres://postgres@127.0.0.1:${pg_port[0]},127.0.0.1:${pg_port[1]}/chat?target_session_attrs=read-write"

# ---- chatd: three nodes, node i attached to NATS server i (it learns the others from it) ----
token=$dir/admin.token
(umask 077 && head -c 32 /dev/urandom | base64 > "$token")
for i in 0 1 2; do
  mkdir -m 700 "$dir/node$i"
  "$RUN_CLUSTER_CHATD" --node-id "node-$i" --listen "127.0.0.1:${chat_port[$i]}" --data-dir "$dir/node$i" \
    --store "$store&pool=8" --blob-store "$store" --bus "nats://127.0.0.1:${nats_client[$i]}" \
    --admin-token-file "$token" --admin-listen "127.0.0.1:${admin_port[$i]}" \
    ${chatd_extra[@]+"${chatd_extra[@]}"} > "$dir/node$i.out" 2> "$dir/node$i.log" &
  pids_chatd+=($!)
done
for i in 0 1 2; do
  for attempt in $(seq 1 300); do
    grep -q "^chatd listening on " "$dir/node$i.out" 2> /dev/null && break
    if ! kill -0 "${pids_chatd[$i]}" 2> /dev/null || [ "$attempt" = 300 ]; then
      echo "run-cluster: chatd node-$i did not start; its log:" >&2
      tail -20 "$dir/node$i.log" >&2
      exit 1
    fi
    sleep 0.1
  done
done

urls=$(printf 'ws://127.0.0.1:%s/ws,' "${chat_port[@]}")
cat << TXT
run-cluster: the cluster is ready in $dir (Ctrl-C stops it all)
  chatd nodes:  node-0 127.0.0.1:${chat_port[0]}, node-1 127.0.0.1:${chat_port[1]}, node-2 127.0.0.1:${chat_port[2]}
                web app http://127.0.0.1:${chat_port[0]}/ (any node), metrics http://127.0.0.1:PORT/metrics
  chatctl:      $RUN_CLUSTER_CHATCTL --admin-url http://127.0.0.1:${admin_port[0]} --admin-token-file $token nodes
  chat-loadgen: build/tools/chat-loadgen/chat-loadgen --url ${urls%,} --clients 300 --group-size 10 --rate 500
                (for load, start the cluster with: -- --password-cost minimum --rate-limits off --spam off
                 --max-connections-per-address 0: the defaults throttle many sign-ups from one address)
  NATS:         nats://127.0.0.1:${nats_client[0]},127.0.0.1:${nats_client[1]},127.0.0.1:${nats_client[2]}
  PostgreSQL:   primary 127.0.0.1:${pg_port[0]}, standby 127.0.0.1:${pg_port[1]} (synchronous): $PGBIN/psql -h 127.0.0.1 -p ${pg_port[0]} -U postgres chat
  logs:         $dir/node*.log, nats*.log, pglog/
run-cluster: pids chatd=${pids_chatd[*]} nats=${pids_nats[*]} postgres=${pids_pg[*]}
TXT

# Until Ctrl-C (or SIGTERM), or until a chatd node exits on its own.
wait -n "${pids_chatd[@]}" || true
echo "run-cluster: a chatd node exited; stopping the rest" >&2
