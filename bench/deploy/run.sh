#!/usr/bin/env bash
# Deploy timings against the real Docker Engine: from `tug deploy` to green serving (and the whole command),
# and from a green that starts failing after the switch to the rollback being complete (the first answer from
# blue again, as a client sees it). Images are built FROM the workspace's test image, which the CLI tests
# build (`cargo test -p tug --test cli runtime::` once) as tugboat-test/server:local.
#
# Needs: docker, curl, a release `tug` (`cargo build --release -p tug`; TUG overrides the path).
# Usage: bench/deploy/run.sh [ROUNDS]
set -euo pipefail

ROUNDS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TUG=${TUG:-$ROOT/target/release/tug}
BASE=tugboat-test/server:local
PORT=18090
docker image inspect "$BASE" >/dev/null || { echo "no $BASE: run the runtime tests once to build it" >&2; exit 2; }

WORK=$(mktemp -d)
cleanup() {
  [ -n "${PROXY:-}" ] && kill "$PROXY" 2>/dev/null || true
  (cd "$WORK" && "$TUG" down >/dev/null 2>&1) || true
  docker rmi -f benchdeploy/web:v1 benchdeploy/web:v2 benchdeploy/web:bad >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

image() { # NAME ENV...
  local name=$1; shift
  local dir; dir=$(mktemp -d)
  { echo "FROM $BASE"; for e in "$@"; do echo "ENV $e"; done; } > "$dir/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$name" "$dir" >/dev/null 2>&1
  rm -rf "$dir"
}
image benchdeploy/web:v1 TESTSERVER_VERSION=v1
image benchdeploy/web:v2 TESTSERVER_VERSION=v2
image benchdeploy/web:bad TESTSERVER_VERSION=bad TESTSERVER_FAIL_AFTER=30

cd "$WORK"
printf 'name: benchdeploy\nservices:\n  web:\n    image: benchdeploy/web:v1\n' > compose.yml
cat > tugboat.yml <<YML
proxy: { listen: ["127.0.0.1:$PORT"], access_log: off }
deploy:
  web: { host: web.bench, port: 8080, health: { path: /health, interval: 200ms }, drain: 5s, watch: 3s }
YML
"$TUG" up >/dev/null
"$TUG" proxy > proxy.log 2>&1 &
PROXY=$!
for _ in $(seq 100); do [ -S .tugboat/proxy.sock ] && break; sleep 0.1; done
"$TUG" deploy web >/dev/null

now_ms() { date +%s%3N; }
get() { curl -s -m 5 -H 'Host: web.bench' "http://127.0.0.1:$PORT/" || true; }

echo "round  image  command_ms  healthy_after_ms  green_serving_ms"
for i in $(seq "$ROUNDS"); do
  v=$([ $((i % 2)) = 1 ] && echo v2 || echo v1)
  start=$(now_ms)
  report=$("$TUG" deploy web --image "benchdeploy/web:$v" --json)
  end=$(now_ms)
  healthy=$(sed -n 's/.*"healthy_after_ms": *\([0-9]*\).*/\1/p' <<<"$report")
  # Green serves once the switch is done, before the watch window ends: the command's time minus the watch.
  printf '%5s  %5s  %10s  %16s  %16s\n' "$i" "$v" "$((end - start))" "$healthy" "$((end - start - 3000))"
done

# A green that fails after the switch: a client polls; time from its first 5xx to the first answer from blue.
last=$(get | sed -n 's/.*"version": "\([^"]*\)".*/\1/p')
"$TUG" deploy web --image benchdeploy/web:bad --json > bad.json &
DEPLOY=$!
first_error="" back=""
while [ -z "$back" ]; do
  code=$(curl -s -o body -w '%{http_code}' -m 5 -H 'Host: web.bench' "http://127.0.0.1:$PORT/" || echo 000)
  t=$(now_ms)
  if [ "$code" -ge 500 ] && [ -z "$first_error" ]; then first_error=$t; fi
  if [ -n "$first_error" ] && [ "$code" = 200 ] && grep -q "\"version\": \"$last\"" body; then back=$t; fi
done
wait "$DEPLOY" || true
echo "rollback: first 5xx -> blue serving again: $((back - first_error)) ms (outcome: $(sed -n 's/.*"outcome": *"\([a-z_]*\)".*/\1/p' bad.json))"
