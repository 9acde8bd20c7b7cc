#!/usr/bin/env python3
"""Single-thread training speed of lstm-bench per OpenBLAS kernel path, side by side.

One run, same machine, same binary: `lstm-bench train MODEL BATCH single STEPS` with
OPENBLAS_NUM_THREADS=1, once per environment:
  * OPENBLAS_CORETYPE=Prescott, =Haswell, =Zen (and =SkylakeX when the CPU has AVX-512),
    each set by hand, so kbd-sim keeps them;
  * OPENBLAS_CORETYPE unset: OpenBLAS's own choice (kbd-sim re-launches if it is weak);
  * unset with KBD_SIM_FAKE_OPENBLAS_CORE=Prescott: a process where OpenBLAS picked Prescott,
    as on the VMs of issue 20; kbd-sim re-launches it with the best tier the CPU runs.
With --kbd-sim PATH it also times whole federated rounds (`kbd-sim run`, synthetic corpus,
100,000 devices, cohort 50, cifg-small, f32, 3 rounds, 2 cores) for Prescott, unset and the
fake-Prescott case: mean seconds per round, the final evaluation left out.
Environments are interleaved and the whole set runs --rounds times (default 2); the best
tokens/s is kept (lstm-bench itself reports the best of 3 timed repeats). The core each
process really ran, and who chose it, come from lstm-bench's own output.

Usage: python3 tools/bench_kernels.py [--bench .build/release/lstm-bench] [--model cifg-small]
         [--rounds 2] [--kbd-sim .build/release/kbd-sim] [--json]
Expects lstm-bench built in release (swift build -c release --product lstm-bench). See
docs/kernels.md.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_VARS = ("OPENBLAS_CORETYPE", "KBD_SIM_KERNEL_PATH", "KBD_SIM_FAKE_OPENBLAS_CORE")
STEPS = {8: 20, 32: 8}


def has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return all(x in flags for x in ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"))


def cases():
    cores = ["Prescott", "Haswell", "Zen"] + (["SkylakeX"] if has_avx512() else [])
    out = [(f"OPENBLAS_CORETYPE={c}", {"OPENBLAS_CORETYPE": c}) for c in cores]
    out.append(("OPENBLAS_CORETYPE unset", {}))
    out.append(("unset, OpenBLAS picks Prescott (KBD_SIM_FAKE_OPENBLAS_CORE=Prescott)",
                {"KBD_SIM_FAKE_OPENBLAS_CORE": "Prescott"}))
    return out


def train(bench, config, batch, extra):
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_VARS}
    env.update(OPENBLAS_NUM_THREADS="1", **extra)
    p = subprocess.run([bench, "train", config, str(batch), "single", str(STEPS[batch])],
                       env=env, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_kernels: lstm-bench failed ({p.returncode}): {p.stderr.strip()}")
    result = json.loads(p.stdout.strip().splitlines()[-1])
    header = next((line for line in p.stderr.splitlines() if "kernel path:" in line), "")
    how = header.split("kernel path: ", 1)[-1]
    return result["tokens_per_s"], result["openblas_core"], how


def kernel_env(extra):
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_VARS}
    env.update(extra)
    return env


def fedavg_round(kbd_sim, extra, tmp):
    """Mean wall seconds per federated round (final evaluation excluded), and the core run."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="bench-kernels-", dir=tmp) as d:
        p = subprocess.run([
            kbd_sim, "run", "--corpus", "synthetic", "--devices", "100000", "--cohort", "50", "--rounds", "3",
            "--model", "cifg-small", "--local-epochs", "1", "--batch", "16", "--client-lr", "0.5", "--codec", "f32",
            "--eval-every", "0", "--db", os.path.join(d, "runs.sqlite"), "--json",
        ], env=kernel_env(extra), cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_kernels: kbd-sim run failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    rounds = json.loads(p.stdout)["rounds"]
    seconds = sum(r["wall s"] - r.get("eval s", 0) for r in rounds) / len(rounds)
    doctor = json.loads(subprocess.run([kbd_sim, "doctor", "--json"], env=kernel_env(extra), cwd=ROOT,
                                       capture_output=True, text=True, check=True).stdout)
    return seconds, doctor["core"], doctor["chosen"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "lstm-bench"))
    ap.add_argument("--model", default="cifg-small")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--kbd-sim", help="also time federated rounds with this kbd-sim (release build)")
    ap.add_argument("--skip-lstm", action="store_true", help="only the federated rounds (with --kbd-sim)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"bench_kernels: no lstm-bench at {args.bench}: swift build -c release --product lstm-bench")
    config = os.path.join("models", args.model + ".json")
    best, seen = {}, {}
    for r in range(0 if args.skip_lstm else args.rounds):
        for label, extra in cases():
            for batch in STEPS:
                tps, core, how = train(args.bench, config, batch, extra)
                key = (label, batch)
                best[key] = max(best.get(key, 0.0), tps)
                seen[label] = (core, how)
            print(f"round {r + 1}: {label} done", file=sys.stderr)
    rows = []
    for label, _ in cases() if not args.skip_lstm else []:
        core, how = seen[label]
        rows.append({"environment": label, "core": core, "how": how,
                     **{f"batch {b} tokens/s": round(best[(label, b)]) for b in STEPS}})
    prescott = rows[0] if rows else None
    for row in rows:
        for b in STEPS:
            row[f"batch {b} vs Prescott"] = round(row[f"batch {b} tokens/s"] / prescott[f"batch {b} tokens/s"], 2)
    fedavg = []
    if args.kbd_sim:
        fed_cases = [c for c in cases() if c[0] in ("OPENBLAS_CORETYPE=Prescott", "OPENBLAS_CORETYPE unset")
                     or "KBD_SIM_FAKE" in c[0]]
        best_round = {}
        for r in range(args.rounds):
            for label, extra in fed_cases:
                seconds, core, how = fedavg_round(args.kbd_sim, extra, None)
                best_round[label] = min(best_round.get(label, (float("inf"),))[0], seconds), core, how
                print(f"round {r + 1}: federated rounds, {label} done", file=sys.stderr)
        fedavg = [{"environment": label, "core": core, "how": how, "s/round": round(sec, 2)}
                  for label, (sec, core, how) in best_round.items()]
    if args.json:
        print(json.dumps({"model": args.model, "rounds": args.rounds, "rows": rows, "fedavg": fedavg}, indent=2))
        return
    if rows:
        print(f"lstm-bench train {config} BATCH single STEPS (OPENBLAS_NUM_THREADS=1), best of {args.rounds} rounds")
        print()
        print("| environment | OpenBLAS core run (how chosen) | batch 8 tokens/s | batch 32 tokens/s "
              "| vs Prescott (8 / 32) |")
        print("| --- | --- | ---: | ---: | ---: |")
        for row in rows:
            how = row["how"].split(" (", 1)[-1].split("); own SIMD", 1)[0]
            print(f"| {row['environment']} | {row['core']} ({how}) | {row['batch 8 tokens/s']:,} | "
                  f"{row['batch 32 tokens/s']:,} | {row['batch 8 vs Prescott']:.2f}× / "
                  f"{row['batch 32 vs Prescott']:.2f}× |")
    if fedavg:
        print()
        print("kbd-sim run, synthetic, 100,000 devices, cohort 50, cifg-small, f32, 3 rounds: mean s/round, "
              f"best of {args.rounds}")
        print()
        print("| environment | OpenBLAS core run (how chosen) | s/round |")
        print("| --- | --- | ---: |")
        for row in fedavg:
            print(f"| {row['environment']} | {row['core']} ({row['how']}) | {row['s/round']:.2f} |")


if __name__ == "__main__":
    main()
