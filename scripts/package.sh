#!/usr/bin/env bash
# Builds chatd's Debian package: build-package/packages/chatd_<version>_<arch>.deb (CPack; what it
# holds: packaging/CMakeLists.txt). A release build (-O2, no tests), stripped. Install it with
#   apt install ./build-package/packages/chatd_*.deb
# then edit /etc/chatd/chatd.conf and `systemctl reload chatd` (docs/operations.md, "Installing").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build-package -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DLIBCHAT_BUILD_TESTS=OFF -DLIBCHAT_BUILD_BENCHMARKS=OFF -DLIBCHAT_BUILD_LOADGEN=OFF \
  -DLIBCHAT_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-package -j"$(nproc)" --target chatd chatctl chat-migrate
(cd build-package && cpack --config CPackConfig.cmake -B "$PWD/packages" > /dev/null)
ls -1 "$PWD"/build-package/packages/chatd_*.deb
