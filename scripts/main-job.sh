#!/usr/bin/env bash
# The main job: what kbd-sim answers, in about five minutes on 2 cores after the build, on the
# built-in synthetic corpus (no external data), a million-phone fleet in virtual time, every
# round kept in a SQLite store (out/runs.sqlite):
#   1. the accuracy ceiling of the corpus;
#   2. federated Kneser-Ney (phones upload n-gram counts);
#   3. federated cifg-small three times on identical cohorts, with float32, 8-bit and 2-bit
#      rotated updates: accuracy from its start against bits on the wire;
#   4. the store, an HTML report (out/report.html), and what to run next.
#
# Knobs (the test suite runs a shortened job with them): KBD_SIM_BIN=path (use that binary,
# skip the release build), KBD_SIM_OUT=folder (default out), KBD_SIM_QUICK=1 (a tiny corpus,
# model and fleet: seconds, not minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ -n "${KBD_SIM_BIN:-}" ]; then
  bin=$KBD_SIM_BIN
else
  swift build -c release --product kbd-sim
  bin=.build/release/kbd-sim
fi
out=${KBD_SIM_OUT:-out}
mkdir -p "$out"
db=$out/runs.sqlite
started=$(date +%s)

if [ "${KBD_SIM_QUICK:-0}" = 1 ]; then
  corpus=synthetic:corpora/synthetic-tiny.json
  ngram=(--corpus "$corpus" --vocab 12 --devices 3000 --cohort 8 --rounds 4 --eval-every 2)
  neural=(--corpus "$corpus" --vocab 12 --model lstm-tiny --devices 3000 --cohort 8 --rounds 4 --eval-every 2
    --client-lr 0.5 --batch 4 --server-opt fedadam:lr=0.02)
else
  # The built-in synthetic process made smaller (4 topics, 3,000 words, 500 users; `synthetic`
  # itself has 12 topics and 20,000 words), so that the neural curve rises within the budget.
  corpus=synthetic:corpora/synthetic-small.json
  ngram=(--corpus "$corpus" --vocab 3000 --devices 1000000 --cohort 50 --rounds 40 --eval-every 10)
  # The recipe that learns on the synthetic corpora (docs/results/2026-11-federated-training.md):
  # client SGD on batches of 4 with dropout, FedAdam on the server with a halving rate.
  neural=(--corpus "$corpus" --vocab 3000 --model cifg-small --devices 1000000 --cohort 10 --rounds 40
    --eval-every 20 --client-lr 1 --batch 4 --client-dropout 0.25 --server-opt fedadam:lr=0.02,halflife=150)
fi

echo "kbd-sim's main job on $corpus: a smaller copy of the built-in synthetic corpus (4 topics,"
echo "3,000 words, 500 users), so that the neural model's curve rises within five minutes."
echo
echo "== 1. The ceiling: the Bayes-optimal nwp-v1 accuracy on the synthetic evaluation users"
$bin corpus oracle "$corpus"

echo; echo "== 2. Federated Kneser-Ney 3-gram: phones upload n-gram counts"
$bin run --model kn3 "${ngram[@]}" --db "$db"

echo; echo "== 3. Federated cifg-small: float32, 8-bit and 2-bit rotated updates on identical cohorts"
echo "   (on-device SGD, every update zlib'd at level 1, FedAdam on the server; the untrained model's"
echo "   accuracy is printed first, so you see how far federated training takes it)"
$bin bench quant "${neural[@]}" --codecs f32,q8s,rot+q2s --zlib 1 --seeds 1 --eval-start --db "$db"
echo "   privacy: training with clipping and noise and secure aggregation are not built yet; their rows"
echo "   join this table when they land. What ε a DP schedule of this fleet would give (Poisson sampling"
echo "   assumed), from the accountant:"
$bin privacy --cohort 10 --devices 1000000 --noise-multiplier 1.0 --rounds 40 --delta 1e-10
# The four runs just made are the store's newest four (runs list shows the newest first).
ids=$($bin runs list --db "$db" --json | grep -o '"run" : [0-9]*' | head -4 | grep -o '[0-9]*$' | sort -n | tr '\n' ' ')

echo; echo "== 4. The store"
$bin runs list --db "$db"

echo; echo "== An HTML report of runs $ids(accuracy by round and by MB, bits against accuracy, …)"
# shellcheck disable=SC2086
$bin report $ids --db "$db" --out "$out/report.html"

elapsed=$(($(date +%s) - started))
cat <<EOF

Done in ${elapsed} s. Next:
  - open $out/report.html (the runs above, charted);
  - kbd-sim runs show ID --db $db: one run round by round;
  - the same comparison on real phone text: get the NUS SMS Corpus (smsCorpus_en_xml_2015.03.09_all.zip,
    from its authors at the National University of Singapore) and run
      $bin bench quant --corpus path/to/smsCorpus_en_xml_2015.03.09_all.zip --model cifg-small \\
        --codecs f32,q8s,q4s,rot+q2s --seeds 3 --db $out/nus.sqlite
  - kbd-sim --help: every command, each with examples; docs/README.md: the documentation.
EOF
