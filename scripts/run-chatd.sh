#!/usr/bin/env bash
# Builds everything and runs chatd on its embedded default: LevelDB in ./data, listening on
# 127.0.0.1:8080 (extra arguments go to chatd, e.g. --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
exec ./build/tools/chatd/chatd --data-dir ./data "$@"
