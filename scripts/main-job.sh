#!/usr/bin/env bash
# The main job: federated training on the built-in synthetic corpus (no external data),
# a million-phone fleet in virtual time, every round kept in a SQLite store (out/runs.sqlite).
# Prints accuracy by round. About 3 minutes on 2 cores after the build; writes out/report.html.
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
echo; echo "== federated cifg-small: on-device SGD, 8-bit rotated + zlib updates, FedAdam on the server"
$bin run --corpus synthetic --model cifg-small --devices 1000000 --cohort 20 --rounds 60 --eval-every 20 \
  --client-lr 1 --batch 4 --server-opt fedadam:lr=0.01 --codec rot,q8s,z1 --db "$db"
echo; echo "== the store"
$bin runs list --db "$db"
# The two runs just made are the newest two (runs list shows the newest first).
ids=$($bin runs list --db "$db" --json | grep '"run" :' | head -2 | grep -o '[0-9]*' | sort -n | tr '\n' ' ')
echo; echo "== an HTML report of runs $ids(accuracy by round and by uploaded MB, participation by local hour, …)"
# shellcheck disable=SC2086
$bin report $ids --db "$db" --out out/report.html
