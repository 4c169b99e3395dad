#!/usr/bin/env bash
# The Debian package, as an operator gets it: made by CPack from build $1 (source tree $2), its file
# list and maintainer scripts, the systemd unit (systemd-analyze verify, where available), and the
# package installed into a scratch root (dpkg-deb -x), whose chatd checks the sample configuration and
# serves the web app. Exit 77 (skipped) without dpkg-deb.
set -euo pipefail
build=$1
src=$2
command -v dpkg-deb > /dev/null || { echo "no dpkg-deb: skipped"; exit 77; }
work=$(mktemp -d /tmp/libchat-package.XXXXXX)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "check_package: $*" >&2; exit 1; }

# 1. The package, made from this build's binaries (CPack installs the "chatd" component, stripped).
(cd "$build" && cpack --config CPackConfig.cmake -B "$work/out" > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/out/chatd_*.deb)
echo "check_package: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# 2. What it holds.
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's#^\./#/#' > "$work/files"
for f in /usr/bin/chatd /usr/bin/chatctl /usr/bin/chat-migrate /usr/share/libchat/web/index.html \
         /lib/systemd/system/chatd.service /etc/chatd/chatd.conf /usr/share/doc/chatd/copyright \
         /usr/share/doc/chatd/operations.md; do
  grep -qx "$f" "$work/files" || fail "$f is not in the package"
done
# Nothing for developers or tests in it.
! grep -E '\.a$|/include/|_test$' "$work/files" || fail "the package holds build or test files"
dpkg-deb -f "$deb" Package Version Architecture Depends
dpkg-deb -f "$deb" Depends | grep -q libleveldb || fail "Depends lacks the shared libraries (dpkg-shlibdeps)"

# 3. The maintainer scripts and the conffile.
dpkg-deb -e "$deb" "$work/control"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "$s missing or not executable"
  sh -n "$work/control/$s" || fail "$s: syntax"
done
grep -qx /etc/chatd/chatd.conf "$work/control/conffiles" || fail "chatd.conf is not a conffile"
grep -q admin.token "$work/control/postinst" || fail "postinst does not make the admin token"

# 4. Installed into a scratch root.
root="$work/root"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/chatd" --version | grep -q '^chatd ' || fail "chatd --version"
"$root/usr/bin/chatctl" --version > /dev/null || fail "chatctl --version"
if command -v readelf > /dev/null && readelf -S "$root/usr/bin/chatd" | grep -q '\.debug_info'; then
  fail "the packaged chatd is not stripped"
fi
# The unit: verified with its ExecStart pointing at the scratch root's chatd.
if command -v systemd-analyze > /dev/null; then
  sed "s#/usr/bin/chatd#$root/usr/bin/chatd#g; s#/etc/chatd/#$root/etc/chatd/#g" \
    "$root/lib/systemd/system/chatd.service" > "$work/chatd.service"
  systemd-analyze verify "$work/chatd.service" > "$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
  if grep -v -e 'Failed to connect to bus' -e '^$' "$work/verify.log"; then fail "systemd-analyze verify warns"; fi
  for key in DynamicUser=yes StateDirectory=chatd LimitNOFILE= ProtectSystem=strict NoNewPrivileges=yes; do
    grep -q "^$key" "$work/chatd.service" || fail "the unit lacks $key"
  done
  echo "check_package: systemd-analyze verify: ok"
else
  echo "check_package: no systemd-analyze: the unit is not verified"
fi
# The sample configuration loads as shipped (every option commented but data-dir), and chatd from the
# scratch root serves the web app installed beside it.
head -c 32 /dev/urandom | base64 > "$work/admin.token"
chmod 600 "$work/admin.token"
run=("$root/usr/bin/chatd" --config "$root/etc/chatd/chatd.conf" --data-dir "$work/data" --listen 127.0.0.1:0
     --admin-listen 127.0.0.1:0 --admin-token-file "$work/admin.token" --password-cost minimum)
"${run[@]}" --check-config > /dev/null || fail "the sample configuration does not check"
[ "$(grep -c '^#[a-z]' "$root/etc/chatd/chatd.conf")" -gt 40 ] || fail "the sample configuration lists too few options"
"${run[@]}" > "$work/stdout" 2> "$work/stderr" &
pid=$!
for _ in $(seq 100); do grep -q 'chatd listening on' "$work/stdout" && break; sleep 0.1; done
port=$(sed -n 's/^chatd listening on .*:\([0-9]*\)$/\1/p' "$work/stdout")
[ -n "$port" ] || { cat "$work/stderr"; fail "chatd from the scratch root did not start"; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
head -1 <&3 | grep -q '200' || fail "GET / did not serve the packaged web app"
exec 3<&-
grep -q "web app from $root/usr/share/libchat/web" "$work/stderr" || { cat "$work/stderr"; fail "chatd did not find the packaged web app"; }
kill -TERM "$pid"
wait "$pid" || fail "chatd did not stop cleanly"
pid=""
echo "check_package: ok"
