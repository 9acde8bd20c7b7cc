#!/usr/bin/env bash
# The main job: federated training on the built-in synthetic corpus (no external data),
# a million-phone fleet in virtual time, every round kept in a SQLite store (out/runs.sqlite).
# Prints accuracy by round. About 4 minutes on 2 cores after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product kbd-sim
bin=.build/release/kbd-sim
mkdir -p out
db=out/runs.sqlite
echo "== the ceiling: Bayes-optimal nwp-v1 accuracy on the synthetic evaluation users"
$bin corpus oracle synthetic
echo; echo "== federated Kneser-Ney 3-gram: 1,000,000 phones upload n-gram counts, 50 reports per round"
$bin run --corpus synthetic --model kn3 --devices 1000000 --cohort 50 --rounds 40 --eval-every 10 --db "$db"
echo; echo "== federated cifg-small: local training on each phone, 8-bit rotated + zlib updates, FedAvg"
$bin run --corpus synthetic --model cifg-small --devices 1000000 --cohort 20 --rounds 30 --eval-every 10 \
  --client-opt adam --client-lr 0.004 --batch 8 --codec rot,q8s,z1 --db "$db"
echo; echo "== the store"
$bin runs list --db "$db"
