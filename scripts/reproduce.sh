#!/usr/bin/env bash
# Regenerates every committed output (each experiment, its fixed-protocol twin where the claims read it, the decision
# framework, the figures, REPORT.md) and prints each step's wall time and the total.
# Usage: bash scripts/reproduce.sh   (from the repository root, in the environment the README installs)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() {  # step NAME COMMAND...: runs COMMAND, prints how long it took
  local name=$1 begin
  shift
  begin=$(date +%s)
  "$@" > /dev/null
  echo "${name}: $(( $(date +%s) - begin ))s"
}
for experiment in domain_shift domain_shift.py:fixed strategies strategies.py:fixed lr_multiplier \
    lr_multiplier.py:fixed gradual_unfreezing gradual_unfreezing.py:fixed domain_adaptation domain_adaptation.py:fixed \
    domain_adaptation.py:moons domain_adaptation.py:moons,fixed domain_adaptation.py:digits domain_adaptation.py:semi \
    domain_adaptation.py:semi,fixed layer_transfer strategies.py:digits layer_transfer.py:digits; do
  config="configs/${experiment}"
  [[ "${experiment}" == *:* ]] || config="${config}.py"
  step "${experiment}" python -m scripts.run --config="${config}" --overwrite
done
step decision python -m scripts.decide --config=configs/decision.py --overwrite
step boundaries python -m scripts.boundaries --config=configs/domain_adaptation.py:moons,fixed --shift=2
step concept python -m scripts.concept
step report python -m scripts.report
echo "reproduced every output in $(( $(date +%s) - start ))s"
