#!/usr/bin/env bash
# The long fault runs: the CLI fault tests (crates/tug/tests/cli/faults.rs) with many more seeded kill points per
# command than CI's 20. Usage: bench/faults/run.sh [POINTS_PER_COMMAND] [SEED]
# Prints each test's result and the total time; record the figures in docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
points=${1:-200}
seed=${2:-$(date +%s)}
echo "fault runs: $points points per command, seed $seed"
start=$(date +%s)
TUG_FAULT_POINTS=$points TUG_FAULT_SEED=$seed cargo test -q -p tug --test cli faults:: -- --test-threads=1 --nocapture
echo "done in $(( $(date +%s) - start )) s (seed $seed, $points points per command)"
