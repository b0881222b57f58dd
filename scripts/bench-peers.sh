#!/usr/bin/env bash
# threadgate next to other SMTP receivers on this machine, measured in one run by the same
# client (threadgate-load; `--peer` for the others), 4 KiB and 64 KiB replies at 1, 10 and 50
# sessions. Prints a Markdown table, then one verdict per cell: threadgate ahead of or behind
# Postfix's durable queue, by how much.
#
#   scripts/bench-peers.sh [MESSAGES]        # default 2000 per run
#
# Every server is started afresh for each row, on a free loopback port, its data in a temporary
# directory on the same filesystem as threadgate-load's own (both under $TMPDIR or /tmp).
# threadgate: the full pipeline, SQLite synchronous=FULL. The peers, given the same mail (from
# client@example.test to inbox@example.test, threadgate-load's --peer-from/--peer-to defaults):
#
# - smtp-sink (Postfix's test server): accepts and discards, the ceiling of the SMTP dialogue.
# - aiosmtpd parsing each message and committing it to SQLite with fsync before the 250
#   (scripts/peers/aiosmtpd_sqlite.py).
# - Postfix: a private instance (its own main.cf, master.cf, queue and log under the temporary
#   directory, started with `postfix -c`; the system instance is left alone). smtpd hands each
#   message to cleanup, which fsyncs the queue file before the 250, as Postfix always does. Mail
#   for example.test (relay_domains) is accepted and put on hold (check_client_access
#   static:HOLD): it stays in the queue, never delivered, as the others keep what they store.
#   No client name lookups, no rate or connection limits, 200 processes, in_flow_delay = 0 (held
#   mail never feeds the queue manager's flow tokens, so each message would otherwise wait 1 s).
#   Its work is spread over master, one smtpd per session, cleanup, anvil, postlogd, …: no one
#   pid stands for it, so its RSS is left blank.
# - Haraka: one Node.js process (smtp.ini nodes=0) with three plugins, none doing DNS:
#   skip_rdns, rcpt_to.in_host_list (example.test) and queue_fsync, which writes each message to
#   its own file and fsyncs the file and its directory before the 250 (scripts/peers/haraka/).
#   npm installs Haraka into target/peers/haraka (needs Node.js >= 20).
#
# Needs root or sudo (apt-get; the private Postfix's master runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES="${1:-2000}"
HARAKA_VERSION=3.3.4
HARAKA_PREFIX=target/peers/haraka # npm's node_modules for Haraka: a cache, ignored like target/

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] || apt_install postfix # and postfix
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
command -v node >/dev/null || apt_install nodejs
command -v npm >/dev/null || apt_install npm
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "Haraka $HARAKA_VERSION needs Node.js >= 20, found $(node --version)" >&2
  exit 1
fi
HARAKA_PKG="./$HARAKA_PREFIX/node_modules/Haraka/package.json"
# Only Haraka's core: no optional plugins, no native builds (the plugins used are core or ours).
[ "$(node -p "require('$HARAKA_PKG').version" 2>/dev/null)" = "$HARAKA_VERSION" ] ||
  npm install --prefix "$HARAKA_PREFIX" --no-audit --no-fund --ignore-scripts --omit=optional \
    --omit=dev --loglevel=error "Haraka@$HARAKA_VERSION" >/dev/null
SINK="$(command -v smtp-sink || echo /usr/sbin/smtp-sink)"
POSTFIX="$(command -v postfix || echo /usr/sbin/postfix)"
HARAKA="$HARAKA_PREFIX/node_modules/Haraka/bin/haraka"

cargo build --release --bin threadgate --bin threadgate-load >/dev/null
LOAD=target/release/threadgate-load
WORK="$(mktemp -d)"
chmod 711 "$WORK" # Postfix's daemons reach their data directory as user postfix
PF=""             # the private Postfix's directory while it runs
cleanup() {
  if [ -n "$PF" ]; then as_root "$POSTFIX" -c "$PF/conf" stop >/dev/null 2>&1 || true; fi
  kill $(jobs -p) 2>/dev/null || true
  as_root rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
row() { # server size sessions json-file
  python3 - "$@" <<'PY'
import json, sys
server, size, sessions, path = sys.argv[1:5]
r = json.load(open(path))
lat = r["latency_ms"]
rss = r.get("server_peak_rss_bytes")
cpu = r.get("server_cpu_ms_per_message")
print(f"| {server} | {int(size)//1024} KiB | {sessions} | {r['throughput_per_s']:.0f} | {lat['p50']:.1f} | {lat['p99']:.1f} | {r['errors']} | {'' if cpu is None else f'{cpu:.2f}'} | {'' if rss is None else f'{rss/1048576:.0f} MiB'} |")
PY
}

verdict() { # size sessions threadgate-json postfix-json: one line, ahead or behind Postfix
  python3 - "$@" <<'PY'
import json, sys
size, sessions, tg_path, pf_path = sys.argv[1:5]
def rate(path):
    try:
        r = json.load(open(path))
        return r["throughput_per_s"] if r.get("errors", 1) == 0 else None
    except (OSError, ValueError, KeyError):
        return None
tg, pf = rate(tg_path), rate(pf_path)
cell = f"{int(size)//1024} KiB x {sessions} session{'s' if sessions != '1' else ''}"
if tg is None or pf is None or pf == 0:
    print(f"{cell}: no verdict (a run failed)")
else:
    word = "ahead of" if tg >= pf else "behind"
    print(f"{cell}: threadgate {tg:.0f}/s, Postfix {pf:.0f}/s: {word} Postfix by {abs(tg / pf - 1) * 100:.0f}%")
PY
}

postfix_start() { # port dir: a private Postfix, its smtpd on 127.0.0.1:port, all files in dir
  local port="$1" dir="$2"
  mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
  # maillog_file must lie under maillog_file_prefixes (/var by default), or postfix exits at
  # once, saying why only on a terminal. The rest: see the header.
  cat >"$dir/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
syslog_name = postfix-bench
myhostname = bench.localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.test
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_client_access static:HOLD
alias_maps =
alias_database =
smtpd_peername_lookup = no
in_flow_delay = 0
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
EOF
  # Debian's services, without chroot (the queue directory is not set up as one) and without
  # those nothing here uses (local, virtual, lmtp, tlsmgr, pipes).
  cat >"$dir/conf/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
  as_root chown -R root: "$dir"
  as_root chown postfix "$dir/data"
  PF="$dir"
  # Without a terminal, postfix reports to the log file only.
  as_root "$POSTFIX" -c "$dir/conf" start >/dev/null 2>&1 || {
    echo "private Postfix did not start:" >&2; as_root cat "$dir/maillog" >&2 || true; exit 1; }
}
postfix_stop() { # dir
  as_root "$POSTFIX" -c "$1/conf" stop >/dev/null 2>&1
  PF=""
  as_root rm -rf "$1"
}

haraka_start() { # port dir: Haraka set up from scripts/peers/haraka, on 127.0.0.1:port
  node "$HARAKA" -i "$2" >/dev/null
  cp -r scripts/peers/haraka/config scripts/peers/haraka/plugins "$2"/
  echo "listen=127.0.0.1:$1" >>"$2/config/smtp.ini"
  node "$HARAKA" -c "$2" >"$2/haraka.log" 2>&1 &
}

echo "| server | size | sessions | messages/s | p50 ms | p99 ms | errors | server CPU ms/message | server peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
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

    port="$(free_port)"
    postfix_start "$port" "$WORK/postfix"
    wait_port "$port"
    "$LOAD" "${common[@]}" --peer 127.0.0.1:"$port" >"$WORK/postfix.json" 2>/dev/null || true
    postfix_stop "$WORK/postfix"
    row "Postfix (queue, fsync)" "$size" "$sessions" "$WORK/postfix.json"
    verdict "$size" "$sessions" "$WORK/tg.json" "$WORK/postfix.json" >>"$WORK/verdicts"

    port="$(free_port)"
    haraka_start "$port" "$WORK/haraka"
    haraka=$!
    wait_port "$port" || {
      echo "Haraka did not start:" >&2; cat "$WORK/haraka/haraka.log" >&2; exit 1; }
    "$LOAD" "${common[@]}" --peer 127.0.0.1:"$port" --server-pid "$haraka" >"$WORK/haraka.json" 2>/dev/null || true
    kill "$haraka"; wait "$haraka" 2>/dev/null || true
    rm -rf "$WORK/haraka"
    row "Haraka (file + fsync)" "$size" "$sessions" "$WORK/haraka.json"
  done
done
echo
cat "$WORK/verdicts"
