#!/usr/bin/env bash
# Installs the browser tests' npm packages (playwright-core only; it drives Debian's /usr/bin/chromium
# and downloads no browser) with `npm ci`, exactly as package-lock.json says. Skipped when node_modules
# already matches the lock file, so that running the tests again costs nothing.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.libchat-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
