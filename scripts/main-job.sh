#!/usr/bin/env bash
# The main job, on the built-in synthetic corpus (no external data needed): what the best
# possible model could reach (the oracle), the Kneser-Ney baseline, a short centralized
# cifg-small run, and one simulated day of a million-phone fleet. About 5 minutes on 2 cores
# after the build. Until the federated loop lands, this is the most complete thing kbd-sim does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product kbd-sim
bin=.build/release/kbd-sim
mkdir -p out
echo "== the ceiling: Bayes-optimal nwp-v1 accuracy on the synthetic evaluation users"
$bin corpus oracle synthetic
echo; echo "== the Kneser-Ney 3-gram baseline"
$bin eval --model kn3 --corpus synthetic
echo; echo "== centralized cifg-small, 2 epochs"
$bin train --model cifg-small --corpus synthetic --epochs 2 --out out/cifg-small-synthetic.kbdlm
echo; echo "== one day of 1,000,000 phones, cohorts of 500"
$bin fleet simulate --devices 1000000 --days 1 --cohort 500 --csv out/fleet.csv --svg out/fleet.svg
