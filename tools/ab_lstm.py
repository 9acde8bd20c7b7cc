#!/usr/bin/env python3
"""Before/after training throughput of two lstm-bench builds, side by side in one run.

Every round runs each variant once per (model, batch, messages) cell, alternating which goes
first, so both see the same machine load; the table reports medians over the rounds and the
median of the per-round ratios. One thread (OPENBLAS_NUM_THREADS=1, `single` mode).

  python3 tools/ab_lstm.py --variant before=/tmp/base/lstm-bench \\
      --variant after=.build-rel/release/lstm-bench [--variant 'own-off=KBD_SIM_SMALL_ROW_GEMM=0 .build-rel/release/lstm-bench'] \\
      [--models cifg-small,cifg-gboard] [--batches 4,8,32] [--rounds 5] [--corpus PATH] [--torch PYTHON]

A variant is NAME=[VAR=VALUE ...] BINARY. --corpus adds a row per cell on real messages (only
for builds whose lstm-bench has --corpus). --torch PYTHON adds PyTorch (tools/torch_lstm.py,
one thread) on the same batches, exported by the last variant with --export-batches.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = {1: 60, 4: 40, 8: 20, 16: 12, 32: 8}


def run_json(cmd, env_extra):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **env_extra)
    out = subprocess.run(cmd, check=True, text=True, capture_output=True, cwd=ROOT, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def parse_variant(text):
    name, _, rest = text.partition("=")
    words = shlex.split(rest)
    env = dict(w.split("=", 1) for w in words[:-1])
    return name, env, words[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--models", default="cifg-small,cifg-gboard")
    ap.add_argument("--batches", default="4,8,32")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--corpus", help="real messages (lstm-bench train --corpus)")
    ap.add_argument("--only-corpus", action="store_true", help="skip the fixed-length rows")
    ap.add_argument("--torch", help="a Python with torch: adds PyTorch on the same batches")
    args = ap.parse_args()
    variants = [parse_variant(v) for v in args.variant]
    sources = ([] if args.only_corpus else ["fixed"]) + ([args.corpus] if args.corpus else [])
    cells = [(m, int(b), s) for m in args.models.split(",") for b in args.batches.split(",") for s in sources]
    rates = {}
    extra = {}
    tmp = tempfile.mkdtemp(prefix="ab_lstm-")
    for r in range(args.rounds):
        for ci, (model, batch, source) in enumerate(cells):
            order = variants if (r + ci) % 2 == 0 else list(reversed(variants))
            cfg = os.path.join("models", model + ".json")
            steps = str(STEPS.get(batch, 10))
            batches_file = os.path.join(tmp, f"{model}-{batch}-{abs(hash(source))}.json")
            for name, env, binary in order:
                cmd = [binary, "train", cfg, str(batch), "single", steps]
                if source != "fixed":
                    cmd += ["--corpus", source]
                if args.torch and name == variants[-1][0]:
                    cmd += ["--export-batches", batches_file]
                try:
                    res = run_json(cmd, env)
                except subprocess.CalledProcessError:
                    if source == "fixed":
                        raise
                    continue  # a build without --corpus
                rates.setdefault((model, batch, source, name), []).append(res["tokens_per_s"])
                if "share_of_peak" in res:
                    extra.setdefault((model, batch, source, name), []).append(
                        (res["train_gflops"], res["peak_gflops"], res["share_of_peak"]))
            if args.torch:
                res = run_json([args.torch, "tools/torch_lstm.py", "train", cfg, str(batch), steps, "1",
                                batches_file], {})
                rates.setdefault((model, batch, source, "pytorch"), []).append(res["tokens_per_s"])
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    names = [v[0] for v in variants] + (["pytorch"] if args.torch else [])
    first = variants[0][0]
    print(f"\nTraining tokens/s, one thread, median of {args.rounds} alternating rounds\n")
    head = "| model | batch | messages | " + " | ".join(names) + " | " + " | ".join(
        f"{n} / {first}" for n in names[1:]) + " | GFLOP/s, peak, share (" + variants[-1][0] + ") |"
    print(head)
    print("| --- | ---: | --- | " + " | ".join("---:" for _ in names) + " | " + " | ".join(
        "---:" for _ in names[1:]) + " | ---: |")
    for model, batch, source in cells:
        label = "fixed 5–25 words" if source == "fixed" else os.path.basename(source)
        med = [statistics.median(rates[(model, batch, source, n)]) if (model, batch, source, n) in rates else None
               for n in names]
        ratios = []
        for n in names[1:]:
            a, b = rates.get((model, batch, source, n)), rates.get((model, batch, source, first))
            ratios.append(f"{statistics.median(x / y for x, y in zip(a, b)):.2f}×" if a and b else "n/a")
        ex = extra.get((model, batch, source, variants[-1][0]))
        exs = ""
        if ex:
            exs = (f"{statistics.median(e[0] for e in ex):.1f}, {statistics.median(e[1] for e in ex):.1f}, "
                   f"{statistics.median(e[2] for e in ex) * 100:.0f}%")
        print(f"| {model} | {batch} | {label} | " + " | ".join(f"{m:,.0f}" if m else "n/a" for m in med) + " | "
              + " | ".join(ratios) + f" | {exs} |")


if __name__ == "__main__":
    main()
