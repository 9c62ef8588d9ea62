#!/usr/bin/env bash
# Regenerates every committed output (each experiment, the concept figure, REPORT.md) and prints the wall time.
# Usage: bash scripts/reproduce.sh   (from the repository root, in the environment the README installs)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
for experiment in domain_shift strategies lr_multiplier gradual_unfreezing domain_adaptation layer_transfer \
    strategies.py:digits layer_transfer.py:digits; do
  config="configs/${experiment}"
  [[ "${experiment}" == *:* ]] || config="${config}.py"
  echo "== ${experiment}"
  python -m scripts.run --config="${config}" --overwrite > /dev/null
done
python -m scripts.decide --config=configs/decision.py --overwrite > /dev/null
python -m scripts.concept
python -m scripts.report
echo "reproduced every output in $(( $(date +%s) - start ))s"
