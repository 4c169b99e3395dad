#!/usr/bin/env bash
# Builds only what it runs (chatd, and chatctl to administer it) and runs chatd on its embedded
# default: LevelDB in ./data, listening on 127.0.0.1:8080 (extra arguments go to chatd, e.g.
# --listen 127.0.0.1:9000). Says when chatd is ready; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
  -DLIBCHAT_BUILD_TESTS=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF -DLIBCHAT_BUILD_LOADGEN=OFF > /dev/null
cmake --build build -j"$(nproc)" --target chatd chatctl
echo "run-chatd: starting chatd (data in ./data; chatctl is build/tools/chatctl/chatctl)"
./build/tools/chatd/chatd --data-dir ./data "$@" | while IFS= read -r line; do
  printf '%s\n' "$line"
  case $line in
    "chatd listening on "*) echo "run-chatd: chatd is ready: ws://${line#chatd listening on }/ws (Ctrl-C stops it)" ;;
  esac
done
