#!/usr/bin/env bash
# Fuzzes each target for a bounded time from a scratch copy of the committed corpus (docs/reliability.md,
# "Fuzzing"). Usage: bench/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target)
# Prints executions and crashes per target; crash inputs stay in fuzz/artifacts/<target>/.
# FUZZ_MERGE=1 merges the inputs that add coverage back into fuzz/corpus/<target>/.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); runs on stable Rust through RUSTC_BOOTSTRAP=1.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
shift || true
all=(compose_yaml interpolation envfile tugboat_config condition cron restic_lock upload_path admin_request)
targets=("${@:-${all[@]}}")
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2; }
export RUSTC_BOOTSTRAP=1

# The feature of the fuzz crate that builds the crate owning a target's parser.
feature() {
    case $1 in
        compose_yaml | interpolation | envfile | tugboat_config) echo engine ;;
        condition | cron) echo watch ;;
        restic_lock) echo backup ;;
        upload_path) echo sidecar ;;
        admin_request) echo proxy ;;
        *) echo "unknown target $1 (targets: ${all[*]})" >&2; exit 2 ;;
    esac
}

cd "$root/fuzz"
features=$(for t in "${targets[@]}"; do feature "$t"; done | sort -u | paste -sd, -)
cargo fuzz build --features "$features" "${targets[@]/#/--bin=}" >/dev/null 2>&1 ||
    cargo fuzz build --features "$features"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '%-16s %8s %12s %10s %8s\n' target seconds executions exec/s crashes
status=0
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "artifacts/$target"
    cp -r "corpus/$target/." "$scratch/$target/" 2>/dev/null || true
    log="$scratch/$target.log"
    stamp="$scratch/$target.stamp"
    touch "$stamp"
    # -fork keeps fuzzing past a crash; each crash input is written to artifacts/<target>/.
    cargo fuzz run --features "$(feature "$target")" "$target" "$scratch/$target" -- \
        -max_total_time="$seconds" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1 || true
    # Status lines look like `#123456: cov: … exec/s 5000 …` (fork mode) or `#123456 … exec/s: 5000`.
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
    rate=$(grep -oE 'exec/s:? [0-9]+' <<<"$last" | grep -oE '[0-9]+$' || true)
    found=$(find "artifacts/$target" -type f -newer "$stamp")
    crashes=$(grep -c . <<<"$found" || true)
    printf '%-16s %8s %12s %10s %8s\n' "$target" "$seconds" "${execs:-?}" "${rate:-?}" "$crashes"
    if [ "$crashes" -gt 0 ]; then
        status=1
        sed 's/^/  /' <<<"$found"
    fi
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        # Adds to the committed corpus only the inputs that add coverage.
        cargo fuzz run --features "$(feature "$target")" "$target" "corpus/$target" "$scratch/$target" -- \
            -merge=1 -timeout=10 -rss_limit_mb=2048 >"$log.merge" 2>&1 || tail -5 "$log.merge"
    fi
done
exit $status
