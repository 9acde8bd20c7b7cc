#!/usr/bin/env python3
"""Checks a kbd-sim safetensors export with numpy alone.

Reads model.safetensors (8-byte LE header length, JSON header, F32 data), runs the LSTM
language model forward in numpy (float64) over each context of contexts.json, and checks that
the top-3 next words (ids >= 4, ties to the lower id) equal kbd-sim's, and that the
log-probabilities agree to 1e-3.

Usage:
  swift build -c release --product lstm-bench
  .build/release/lstm-bench export-check models/cifg-small.json out/st-check
  python3 tools/check_safetensors.py out/st-check/model.safetensors out/st-check/contexts.json
"""
import json
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", info
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[base + begin:base + end], dtype="<f4").reshape(info["shape"])
        tensors[name] = arr.astype(np.float64)
    return tensors, json.loads(meta["kbd_sim_config"])


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def next_word_logits(t, cfg, context):
    h_size = cfg["hidden"]
    cifg = cfg["cell"] == "cifg"
    E = t["embedding"]
    h = np.zeros(h_size)
    c = np.zeros(h_size)
    for step, w in enumerate([2] + list(context)):
        g = E[w] @ t["lstm.input_kernel"] + t["lstm.bias"]
        if step > 0:
            g = g + h @ t["lstm.recurrent_kernel"]
        if cifg:
            f, o, cand = sigmoid(g[:h_size]), sigmoid(g[h_size:2 * h_size]), np.tanh(g[2 * h_size:])
            i = 1 - f
        else:
            i, f = sigmoid(g[:h_size]), sigmoid(g[h_size:2 * h_size])
            o, cand = sigmoid(g[2 * h_size:3 * h_size]), np.tanh(g[3 * h_size:])
        c = f * c + i * cand
        h = o * np.tanh(c)
    y = h @ t["projection.kernel"] if "projection.kernel" in t else h
    return E @ y + t["output.bias"]


def main():
    st_path, ctx_path = sys.argv[1], sys.argv[2]
    tensors, cfg = load_safetensors(st_path)
    cases = json.load(open(ctx_path))
    mismatches = 0
    worst_lp = 0.0
    for case in cases:
        logits = next_word_logits(tensors, cfg, case["context"])
        included = np.ones(len(logits), dtype=bool)
        included[[0, 2]] = False  # <pad> and <s> are outside the distribution
        m = logits[included].max()
        lse = m + np.log(np.exp(logits[included] - m).sum())
        words = logits[4:]
        order = np.lexsort((np.arange(len(words)), -words))[:3] + 4  # score desc, id asc
        if list(order) != case["top3"]:
            mismatches += 1
            print("mismatch", case["context"], list(order), case["top3"])
        for wid, lp in zip(case["top3"], case["logprobs"]):
            worst_lp = max(worst_lp, abs((logits[wid] - lse) - lp))
    print(f"{len(cases) - mismatches}/{len(cases)} contexts: numpy top-3 == kbd-sim top-3; "
          f"max |log-prob difference| = {worst_lp:.2e}; model {cfg['name']} ({cfg['cell']}, V={cfg['vocabularySize']})")
    sys.exit(0 if mismatches == 0 and worst_lp < 1e-3 else 1)


if __name__ == "__main__":
    main()
