#!/usr/bin/env bash
# Regenerates every committed output (each experiment, its fixed-protocol twin where the claims read it, the decision
# framework, the figures, REPORT.md), prints each step's wall time and the total, and writes them to
# outputs/reproduce.md.
# Usage: bash scripts/reproduce.sh   (from the repository root, in the environment the README installs)
# SEEDS=N bash scripts/reproduce.sh gives every experiment N seeds (the decision grid keeps its own 10) and writes its
# times to outputs/reproduce_seedsN.md: SEEDS=10 is the reproduction the speed goals time. Its other outputs replace
# the committed ones, so run it in a clone.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
seeds=()
if [[ -n "${SEEDS:-}" ]]; then seeds=(--config.seeds="${SEEDS}"); fi
rows=$(mktemp)
trap 'rm -f "${rows}"' EXIT
step() {  # step NAME COMMAND...: runs COMMAND, prints how long it took and keeps it as a table row
  local name=$1 begin seconds
  shift
  begin=$(date +%s)
  "$@" > /dev/null
  seconds=$(( $(date +%s) - begin ))
  echo "${name}: ${seconds}s"
  echo "| ${name} | ${seconds} |" >> "${rows}"
}
for experiment in domain_shift domain_shift.py:fixed strategies strategies.py:fixed lr_multiplier \
    lr_multiplier.py:fixed gradual_unfreezing gradual_unfreezing.py:fixed domain_adaptation domain_adaptation.py:fixed \
    domain_adaptation.py:moons domain_adaptation.py:moons,fixed domain_adaptation.py:digits domain_adaptation.py:semi \
    domain_adaptation.py:semi,fixed layer_transfer strategies.py:digits layer_transfer.py:digits; do
  config="configs/${experiment}"
  [[ "${experiment}" == *:* ]] || config="${config}.py"
  step "${experiment}" python -m scripts.run --config="${config}" --overwrite ${seeds[@]+"${seeds[@]}"}
done
step decision python -m scripts.decide --config=configs/decision.py --overwrite
step boundaries python -m scripts.boundaries --config=configs/domain_adaptation.py:moons,fixed --shift=2
step concept python -m scripts.concept
step report python -m scripts.report
total=$(( $(date +%s) - start ))
echo "reproduced every output in ${total}s"
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD -- transfer configs scripts || commit="${commit}, with uncommitted changes to the code"
else
  commit='unknown (no git)'
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//' || true)
{
  echo '# Reproduction time'
  echo
  echo "\`${SEEDS:+SEEDS=${SEEDS} }bash scripts/reproduce.sh\` at commit ${commit}, finished $(date -u '+%Y-%m-%d %H:%M') UTC on"
  echo "$(nproc) CPUs (${cpu:-$(uname -m)}); whatever else ran on the machine is not recorded. Wall seconds per step:"
  echo
  echo '| step | seconds |'
  echo '|---|---|'
  cat "${rows}"
  echo "| total | ${total} |"
} > "outputs/reproduce${SEEDS:+_seeds${SEEDS}}.md"
