#!/usr/bin/env bash
# threadgate next to other SMTP receivers on this machine, measured in one run by the same
# client (threadgate-load; `--peer` for the others), 4 KiB and 64 KiB replies at 1, 10 and 50
# sessions. Prints a Markdown table.
#
#   scripts/bench-peers.sh [MESSAGES]        # default 2000 per run
#
# Peers: Postfix's smtp-sink (accepts and discards: the ceiling of the SMTP dialogue here) and
# aiosmtpd parsing each message and committing it to SQLite with fsync before the 250
# (scripts/peers/aiosmtpd_sqlite.py). threadgate: the full pipeline, SQLite synchronous=FULL.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES="${1:-2000}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] || \
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
SINK="$(command -v smtp-sink || echo /usr/sbin/smtp-sink)"

cargo build --release --bin threadgate --bin threadgate-load >/dev/null
LOAD=target/release/threadgate-load
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
row() { # server size sessions json-file
  python3 - "$@" <<'PY'
import json, sys
server, size, sessions, path = sys.argv[1:5]
r = json.load(open(path))
lat = r["latency_ms"]
rss = r.get("server_peak_rss_bytes")
print(f"| {server} | {int(size)//1024} KiB | {sessions} | {r['throughput_per_s']:.0f} | {lat['p50']:.1f} | {lat['p99']:.1f} | {r['errors']} | {'' if rss is None else f'{rss/1048576:.0f} MiB'} |")
PY
}

echo "| server | size | sessions | messages/s | p50 ms | p99 ms | errors | server peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for size in 4096 65536; do
  for sessions in 1 10 50; do
    common=(--conversations 100 --messages "$MESSAGES" --sessions "$sessions" --size "$size" --json)

    "$LOAD" "${common[@]}" >"$WORK/tg.json" 2>"$WORK/tg.log" || true
    row threadgate "$size" "$sessions" "$WORK/tg.json"

    port="$(free_port)"
    "$SINK" -c -u root 127.0.0.1:"$port" 1000 >/dev/null 2>&1 &
    sink=$!
    wait_port "$port"
    "$LOAD" "${common[@]}" --peer 127.0.0.1:"$port" --server-pid "$sink" >"$WORK/sink.json" 2>/dev/null || true
    kill "$sink"; wait "$sink" 2>/dev/null || true
    row "smtp-sink (discards)" "$size" "$sessions" "$WORK/sink.json"

    port="$(free_port)"
    rm -f "$WORK/aio.db"*
    python3 scripts/peers/aiosmtpd_sqlite.py "$port" "$WORK/aio.db" >/dev/null 2>&1 &
    aio=$!
    wait_port "$port"
    "$LOAD" "${common[@]}" --peer 127.0.0.1:"$port" --server-pid "$aio" >"$WORK/aio.json" 2>/dev/null || true
    kill "$aio"; wait "$aio" 2>/dev/null || true
    row "aiosmtpd + SQLite (fsync)" "$size" "$sessions" "$WORK/aio.json"
  done
done
