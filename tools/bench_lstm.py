#!/usr/bin/env python3
"""Benchmarks kbd-sim's neural keyboard model against the same architecture in PyTorch.

One run, same machine, same synthetic messages (mean 15 words + </s>), same packed batches:
  * training tokens/s (target tokens incl. </s>) at batch 1, 8, 32 with 2 threads:
      kbd-sim data-parallel (batch split over 2 workers, one model), kbd-sim 2 independent
      trainers (two simulated phones, tokens/s summed), kbd-sim 1 thread, PyTorch
      torch.set_num_threads(2) and 1;
  * single-word inference latency (feed one word + top-3) for cifg-gboard, 1 thread.
Every figure is the best of 3 timed repeats inside each tool, and the whole suite is run
--rounds times (default 2) with the best kept, because the machine is shared.

Usage: python3 tools/bench_lstm.py [--models cifg-small,cifg-gboard] [--rounds 2]
Sets up tools/.venv (pip install torch numpy) on first use; builds lstm-bench in release.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "tools", ".venv")
PY = os.path.join(VENV, "bin", "python")
BENCH = os.path.join(ROOT, ".build", "release", "lstm-bench")
STEPS = {1: 60, 8: 20, 32: 8}


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, cwd=ROOT, **kw).stdout


def setup():
    print("building lstm-bench (release)...", file=sys.stderr)
    subprocess.run(["swift", "build", "-c", "release", "--product", "lstm-bench"], check=True, cwd=ROOT)
    if not os.path.exists(PY):
        print("creating tools/.venv with torch...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    try:
        sh([PY, "-c", "import torch, numpy"])
    except subprocess.CalledProcessError:
        subprocess.run([PY, "-m", "pip", "install", "-q", "torch", "numpy"], check=True)


def run_json(cmd):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return json.loads(sh(cmd, env=env).strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="cifg-small,cifg-gboard")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    setup()
    torch_version = sh([PY, "-c", "import torch; print(torch.__version__)"]).strip()
    best = {}

    def keep(key, value, higher=True):
        if key not in best or (value > best[key] if higher else value < best[key]):
            best[key] = value

    for r in range(args.rounds):
        for model in args.models.split(","):
            cfg = os.path.join("models", model + ".json")
            for batch in (1, 8, 32):
                steps = str(STEPS[batch])
                for mode in ("dataParallel", "independent", "single"):
                    if mode == "dataParallel" and batch == 1:
                        continue
                    res = run_json([BENCH, "train", cfg, str(batch), mode, steps])
                    keep((model, batch, "swift-" + mode), res["tokens_per_s"])
                for threads in (2, 1):
                    res = run_json([PY, "tools/torch_lstm.py", "train", cfg, str(batch), steps, str(threads)])
                    keep((model, batch, f"torch-{threads}"), res["tokens_per_s"])
                print(f"round {r + 1}: {model} batch {batch} done", file=sys.stderr)
        res = run_json([BENCH, "infer", "models/cifg-gboard.json", "2000"])
        keep(("cifg-gboard", "infer", "swift"), res["ms_per_word"], higher=False)
        res = run_json([PY, "tools/torch_lstm.py", "infer", "models/cifg-gboard.json", "2000", "1"])
        keep(("cifg-gboard", "infer", "torch"), res["ms_per_word"], higher=False)

    print(f"\nTraining throughput, target tokens/s (best of {args.rounds}x3 runs; PyTorch {torch_version}, eager, CPU)\n")
    print("| model | batch | kbd-sim 2 threads (data-parallel) | kbd-sim 2 independent trainers | kbd-sim 1 thread "
          "| PyTorch 2 threads | PyTorch 1 thread | best kbd-sim / best PyTorch (each with ≤ 2 threads) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model in args.models.split(","):
        for batch in (1, 8, 32):
            dp = best.get((model, batch, "swift-dataParallel"))
            ind = best[(model, batch, "swift-independent")]
            one = best[(model, batch, "swift-single")]
            t2 = best[(model, batch, "torch-2")]
            t1 = best[(model, batch, "torch-1")]
            swift_best = max(dp or 0, ind, one)
            torch_best = max(t1, t2)
            print(f"| {model} | {batch} | {f'{dp:,.0f}' if dp else 'n/a'} | {ind:,.0f} | {one:,.0f} | {t2:,.0f} | {t1:,.0f} "
                  f"| {swift_best / torch_best:.1f}x |")
    si, ti = best[("cifg-gboard", "infer", "swift")], best[("cifg-gboard", "infer", "torch")]
    print(f"\nInference, cifg-gboard, feed one word + top-3, 1 thread: kbd-sim {si:.3f} ms/word, "
          f"PyTorch {ti:.3f} ms/word ({ti / si:.1f}x)")


if __name__ == "__main__":
    main()
