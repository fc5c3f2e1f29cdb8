#!/usr/bin/env bash
# tug proxy vs nginx proxy_pass (upstream keepalive) vs the origin directly; HTTP/1.1 keep-alive, wrk.
#
# Origin: nginx serving static files (1 KiB, 100 KiB) from memory-cached disk, keep-alive on. Not
# tug-testserver: it answers one request per connection (Connection: close) on a thread each, so it
# would be the bottleneck and would measure connection setup instead of proxying.
#
# Needs: wrk, nginx (Debian: apt-get install wrk nginx-light), and a release `tug`
# (`cargo build --release -p tug`; TUG overrides the path). The route is set through the admin API, as
# `tug deploy` sets it.
# Usage: bench/proxy/run.sh [DURATION_S] [CONNECTIONS] [THREADS]
set -euo pipefail

DURATION=${1:-10}
CONNS=${2:-32}
THREADS=${3:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TUG=${TUG:-$ROOT/target/release/tug}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
ORIGIN_PORT=18081 NGINX_PROXY_PORT=18082 TUG_PORT=18083

for tool in wrk "$NGINX" "$TUG"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www" "$WORK/logs"
# nginx workers may run as another user (nobody): the files must be readable to them.
chmod 755 "$WORK"
head -c 1024 /dev/zero | tr '\0' x > "$WORK/www/1k"
head -c 102400 /dev/zero | tr '\0' x > "$WORK/www/100k"

cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root $WORK/www;
  }
  server {
    listen 127.0.0.1:$NGINX_PROXY_PORT;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Default buffering (on): nginx's usual setup; with it off and 4k buffers, 100 KiB bodies crawl.
    }
  }
}
CONF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf"

mkdir -p "$WORK/stack"
printf 'services:\n  origin:\n    image: nginx\n' > "$WORK/stack/compose.yml"
printf 'proxy: { listen: ["127.0.0.1:%s"], access_log: off }\n' "$TUG_PORT" > "$WORK/stack/tugboat.yml"
"$TUG" proxy --dir "$WORK/stack" &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$WORK/stack/.tugboat/proxy.sock" ] && break; sleep 0.1; done
curl -fsS --unix-socket "$WORK/stack/.tugboat/proxy.sock" -X PUT http://tug/routes/bench \
  -d "{\"service\": \"bench\", \"targets\": [{\"address\": \"127.0.0.1:$ORIGIN_PORT\"}]}" >/dev/null
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$TUG_PORT/1k" 2>/dev/null && break
  sleep 0.1
done

for port in $ORIGIN_PORT $NGINX_PROXY_PORT $TUG_PORT; do
  size=$(curl -fsS "http://127.0.0.1:$port/100k" | wc -c)
  [ "$size" = 102400 ] || { echo "127.0.0.1:$port/100k: got $size bytes" >&2; exit 1; }
done

printf '%-14s %-6s %12s %10s %10s\n' target body req/s p50 p99
for body in 1k 100k; do
  for target in "origin:$ORIGIN_PORT" "nginx-proxy:$NGINX_PROXY_PORT" "tug-proxy:$TUG_PORT"; do
    name=${target%%:*} port=${target##*:}
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/$body")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
    printf '%-14s %-6s %12s %10s %10s %s\n' "$name" "$body" "$rps" "$p50" "$p99" "$errors"
  done
done
