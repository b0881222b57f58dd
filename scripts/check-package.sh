#!/usr/bin/env bash
# The Debian package, as CI checks it: built with `cargo deb` (from the binary the test suites
# just built, to spare CI a release build; `cargo deb` alone makes the release package),
# installed with dpkg, its systemd unit verified where systemd-analyze exists, and the installed
# binary started with the installed settings file until /readyz answers 200. Removed after.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
deb=target/debian/threadgate-check.deb
cargo deb --no-build --profile dev --output "$deb"
as_root dpkg -i "$deb"
pid=""
data=$(mktemp -d)
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$data"
  as_root dpkg --purge threadgate >/dev/null
}
trap cleanup EXIT

test -f /etc/threadgate/threadgate.env
dpkg-query -W -f='${Conffiles}\n' threadgate | grep -q /etc/threadgate/threadgate.env
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /usr/lib/systemd/system/threadgate.service
else
  echo "systemd-analyze not found: the unit is not verified here"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(free_port)
smtp=$(free_port)
(
  # The settings file is root's (0640): read through as_root when not root.
  set -a
  eval "$(as_root cat /etc/threadgate/threadgate.env)"
  set +a
  # The installed settings, on free ports and a scratch data directory.
  THREADGATE_DATA_DIR="$data" THREADGATE_HTTP_LISTEN="127.0.0.1:$http" \
    THREADGATE_SMTP_LISTEN="127.0.0.1:$smtp" exec /usr/bin/threadgate serve
) >"$data/log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 60); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/readyz")" = 200 ]; then
    ready=1
    break
  fi
  sleep 0.5
done
kill "$pid"
wait "$pid" || true
pid=""
if [ -z "$ready" ]; then
  echo "the installed threadgate never answered /readyz with 200:"
  cat "$data/log"
  exit 1
fi
echo "package: installed, unit verified, /readyz 200"
