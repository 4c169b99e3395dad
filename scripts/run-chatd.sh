#!/usr/bin/env bash
# Builds only what it runs (chatd, and chatctl to administer it) and runs chatd on its embedded
# default: LevelDB in ./data, listening on 127.0.0.1:8080 (extra arguments go to chatd, e.g.
# --listen 127.0.0.1:9000), with its admin API on 127.0.0.1:8081 and a token made for this run in
# ./data/admin.token. Once chatd is ready it says how to open the web app, how to use chatctl and
# where the data is. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
  -DLIBCHAT_BUILD_TESTS=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF -DLIBCHAT_BUILD_LOADGEN=OFF > /dev/null
cmake --build build -j"$(nproc)" --target chatd chatctl

data=$PWD/data
token=$data/admin.token
# The admin API's token for this local run: made once, readable by this user alone (chatd refuses a
# data folder open to others, and so should its token be).
mkdir -p "$data"
chmod 700 "$data"
if [ ! -s "$token" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 > "$token")
fi
admin=(--admin-token-file "$token")
for a in "$@"; do
  case $a in --admin-token-file|--admin-token-file=*) admin=() ;; esac
done
chatctl=build/tools/chatctl/chatctl

echo "run-chatd: starting chatd (data in $data)"
./build/tools/chatd/chatd --data-dir "$data" "${admin[@]}" "$@" | while IFS= read -r line; do
  printf '%s\n' "$line"
  case $line in
    "chatd listening on "*)
      address=${line#chatd listening on }
      cat <<TXT
run-chatd: chatd is ready (Ctrl-C stops it).
  Web app:   open http://$address/ in a browser: register, sign in, chat (the protocol: ws://$address/ws)
  Terminal:  ./build/examples/client/chat-client --server $address --register alice   (after: cmake --build build --target chat-client)
  Data:      $data (the LevelDB store in store/, attachment files in blobs/)
  Metrics:   http://$address/metrics
TXT
      ;;
    "chatd admin API on "*)
      admin_address=${line#chatd admin API on }
      cat <<TXT
  chatctl:   $chatctl --admin-url http://$admin_address --admin-token-file $token stats
             e.g. users list, invites create, backup --to /tmp/chat-backup   ($chatctl --help)
             or export CHATCTL_ADMIN_URL=http://$admin_address CHATCTL_ADMIN_TOKEN_FILE=$token
TXT
      ;;
  esac
done
