#!/usr/bin/env bash
# Web view benchmark: requests/s and latency percentiles for one conversation page of N
# messages (default 1,000), as a signed-in agent, measured with wrk (Debian package `wrk`).
#
#   scripts/web-bench.sh [MESSAGES] [CONNECTIONS] [SECONDS]
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/web-bench.sh   # PostgreSQL
#
# It builds the release binary, starts a gateway on loopback in a temporary data dir, creates an
# agent, a client and a conversation with MESSAGES messages through the JSON API, signs the agent
# in with the magic link of their notification email (from the file outbox), then runs wrk
# against /c/<id> with that session cookie, asking for gzip as browsers do
# (BENCH_IDENTITY=1: uncompressed). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES="${1:-1000}"
CONNECTIONS="${2:-50}"
SECONDS_="${3:-15}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
command -v curl >/dev/null || { echo "curl is required"; exit 1; }

cargo build --release -j 2 --bin threadgate >/dev/null
DIR="$(mktemp -d)"
TOKEN="bench-admin-token-0123456789"
PORT_HTTP="${BENCH_HTTP_PORT:-18080}"
PORT_SMTP="${BENCH_SMTP_PORT:-12525}"
DB_ARGS=()
if [ -n "${DATABASE_URL:-}" ]; then
  DB_NAME="tg_bench_$$"
  psql "$DATABASE_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
  DB_ARGS=(--database-url "${DATABASE_URL%/*}/$DB_NAME")
fi
./target/release/threadgate serve --data-dir "$DIR" "${DB_ARGS[@]}" --admin-token "$TOKEN" \
  --http-listen "127.0.0.1:$PORT_HTTP" --smtp-listen "127.0.0.1:$PORT_SMTP" --tick 500ms \
  >"$DIR/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  if [ -n "${DB_NAME:-}" ]; then psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
BASE="http://127.0.0.1:$PORT_HTTP"
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done

api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
AGENT=$(api -d '{"email":"agent@bench.test","name":"Bench Agent","role":"internal"}' "$BASE/api/v1/people" | id_of)
CLIENT=$(api -d '{"email":"client@bench.test","name":"Bench Client","role":"client"}' "$BASE/api/v1/people" | id_of)
CONV=$(api -d "{\"subject\":\"Benchmark conversation\",\"created_by\":\"$AGENT\",\"participants\":[\"$CLIENT\"]}" "$BASE/api/v1/conversations" | id_of)

echo "posting $MESSAGES messages…"
# Realistic bodies (~400 bytes, a few paragraphs), alternating authors, one note in ten.
python3 - "$BASE" "$TOKEN" "$CONV" "$AGENT" "$CLIENT" "$MESSAGES" <<'PY'
import http.client, json, sys, urllib.parse
base, token, conv, agent, client, n = sys.argv[1:7]
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(int(n)):
    author = agent if i % 2 == 0 else client  # the last one is the client's: the agent is emailed
    kind = "note" if i % 10 == 8 else "message"
    body = (f"Message {i}: thanks for the update on the delivery. " * 3 + "\n\n"
            + "Could you confirm the address and the time window? We are available all week.\n\n"
            + "Best regards")
    c.request("POST", f"/api/v1/conversations/{conv}/messages",
              json.dumps({"author_id": author, "body": body, "kind": kind}),
              {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY

# The agent's notification carries their sign-in link.
LINK=""
for _ in $(seq 1 100); do
  LINK=$(python3 - "$DIR/outbox" <<'PY'
import email, glob, re, sys
for path in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    m = email.message_from_bytes(open(path, "rb").read())
    if "agent@bench.test" not in m["To"]:
        continue
    for part in m.walk():
        if part.get_content_type() == "text/plain":
            found = re.search(r"http://\S+/m/\S+", part.get_payload(decode=True).decode())
            if found:
                print(found.group(0)); sys.exit(0)
PY
) || true
  [ -n "$LINK" ] && break
  sleep 0.2
done
[ -n "$LINK" ] || { echo "no sign-in link for the agent"; exit 1; }
COOKIE=$(curl -s -o /dev/null -D - "$LINK" | sed -n 's/^set-cookie: \(tg_session=[^;]*\).*/\1/ip' | head -1)
SIZE=$(curl -s -H "Cookie: $COOKIE" "$BASE/c/$CONV" | wc -c)
GZIP_SIZE=$(curl -s -H "Cookie: $COOKIE" -H 'Accept-Encoding: gzip' "$BASE/c/$CONV" | wc -c)
ENCODING=(-H 'Accept-Encoding: gzip, deflate, br')
[ -n "${BENCH_IDENTITY:-}" ] && ENCODING=()
BACKEND=sqlite
[ -n "${DATABASE_URL:-}" ] && BACKEND=postgres
echo "page: /c/$CONV, $MESSAGES messages, $SIZE bytes of HTML ($GZIP_SIZE gzipped), backend $BACKEND"
# BENCH_PERF=1: also record a CPU profile of the server during the run (target/web-bench.perf).
if [ -n "${BENCH_PERF:-}" ]; then
  perf record -F 499 -g -o target/web-bench.perf -p "$SERVER" -- sleep "$SECONDS_" >/dev/null 2>&1 &
  PERF=$!
fi
THREADS=2
[ "$CONNECTIONS" -lt 2 ] && THREADS=1
wrk -t "$THREADS" -c "$CONNECTIONS" -d "${SECONDS_}s" --latency -H "Cookie: $COOKIE" "${ENCODING[@]}" "$BASE/c/$CONV"
if [ -n "${PERF:-}" ]; then wait "$PERF" || true; fi
RSS=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
echo "server peak RSS: $((RSS / 1024)) MiB"
