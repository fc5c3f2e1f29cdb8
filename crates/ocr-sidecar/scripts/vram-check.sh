#!/usr/bin/env bash
# The GPU check of issue 6 / seed 000 T034b: builds the sidecar, prints what the VRAM monitor reads
# through each source (NVML loaded at run time, nvidia-smi, auto) and the residency and placement
# decisions the policy makes from it, for the seed-000 thresholds unless overridden.
#
# Usage: crates/ocr-sidecar/scripts/vram-check.sh
#   OLLAMA_API_URL=http://127.0.0.1:11434 OCR_MODEL=np-dms-ocr LLM_MODEL=np-dms-ai   (optional: asks /api/ps
#   which models are loaded; without Ollama the loaded state is "unknown", which errs towards unloading)
#   LLM_VRAM_MIB=10240 OCR_MODEL_VRAM_MIB=3072 VRAM_MARGIN_MIB=512                  (thresholds)
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --quiet --release -p ocr-sidecar --bin ocr-sidecar
bin=${CARGO_TARGET_DIR:-target}/release/ocr-sidecar
echo "== nvidia-smi (reference)"
nvidia-smi --query-gpu=index,name,memory.total,memory.used,memory.free --format=csv,noheader,nounits || echo "(nvidia-smi not available)"
for source in nvml nvidia-smi auto; do
  echo
  echo "== OCR_SIDECAR_VRAM_SOURCE=$source"
  OCR_SIDECAR_VRAM_SOURCE=$source "$bin" vram-report
done
