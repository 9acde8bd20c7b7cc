#!/usr/bin/env python3
"""Times kbd-sim's federated rounds against a plain PyTorch FedAvg loop doing the same work.

1. `kbd-sim run` simulates R rounds (fleet of --devices phones, cohort --cohort, local
   training, f32 uplink, FedAvg, SQLite) and exports the workload: per round the messages of
   every reporting client and their FedAvg weights (--export-workload).
2. tools/torch_fedavg.py replays that workload in eager PyTorch: same model, same clients
   and messages, same local epochs, batch size and learning rate.
3. Prints a markdown table (or --json): per implementation the rounds timed, mean seconds per
   round (round 0 left out as warm-up when more than 2 rounds), client tokens/s (local
   epochs x target tokens of the round's clients / round wall time) and the speedup.

kbd-sim's figure is the wall time of its whole round (fleet simulation, local training,
encoding, upload, aggregation, server step, SQLite commit); PyTorch's covers only local
training and aggregation, so the comparison favours PyTorch. Run it on an otherwise idle
machine: with 2 threads on 2 cores, PyTorch slows down several times over while another
process holds a core.

Usage: python3 tools/bench_fedavg.py [--kbd-sim PATH] [--model cifg-small] [--devices 100000]
         [--cohort 50] [--rounds 5] [--local-epochs 1] [--batch 16] [--client-lr 0.5]
         [--corpus synthetic] [--threads 2] [--json]
Sets up tools/.venv (pip install torch numpy) on first use; expects kbd-sim built in release
(swift build -c release --product kbd-sim).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "tools", ".venv")
PY = os.path.join(VENV, "bin", "python")
TORCH_FEDAVG = os.path.join(ROOT, "tools", "torch_fedavg.py")


def fail(message):
    sys.exit("bench_fedavg: " + message)


def setup_venv():
    """Creates tools/.venv with torch from PyPI unless it is there (the same venv as bench_lstm.py)."""
    if not os.path.exists(PY):
        print("creating tools/.venv with torch...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([PY, "-c", "import torch, numpy"], capture_output=True).returncode != 0:
        subprocess.run([PY, "-m", "pip", "install", "-q", "torch", "numpy"], check=True)


def run_json(cmd, what):
    """Runs cmd (its stderr shown live) and parses its stdout as one JSON document."""
    proc = subprocess.run(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-20:])
        fail(f"{what} failed with exit status {proc.returncode} (its errors are above): {' '.join(cmd)}"
             + (f"\nits stdout ended with:\n{tail}" if tail else ""))
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        fail(f"{what} did not print one JSON document ({e}); stdout began: {proc.stdout[:300]!r}")


def summarize(rounds, workload, epochs):
    """Means over the timed rounds (round 0 left out when more than 2) and tokens/s.

    `rounds` are per-round records with "round" and "wall s" (and, from kbd-sim and
    torch_fedavg.py alike, "train s"); tokens come from the workload so both sides count the same.
    """
    kept = rounds[1:] if len(rounds) > 2 else rounds
    tokens = {r["round"]: sum(r["weights"]) for r in workload["rounds"]}
    clients = {r["round"]: len(r["clients"]) for r in workload["rounds"]}
    # kbd-sim's last round also scores the model on the evaluation users ("eval s"); the
    # PyTorch loop evaluates nothing, so that time is left out of the comparison.
    wall = sum(r["wall s"] - r.get("eval s", 0) for r in kept)
    return {
        "rounds timed": len(kept),
        "clients per round": sum(clients[r["round"]] for r in kept) / len(kept),
        "tokens per round": sum(tokens[r["round"]] for r in kept) / len(kept),
        "mean round s": wall / len(kept),
        "mean train s": sum(r["train s"] for r in kept) / len(kept),
        "tokens/s": epochs * sum(tokens[r["round"]] for r in kept) / wall,
    }


def check_same_rounds(kbd, workload):
    """The stdout rounds of kbd-sim must be the workload's rounds, with the same reporting clients."""
    got = [(r["round"], r["reported"]) for r in kbd["rounds"]]
    want = [(r["round"], len(r["clients"])) for r in workload["rounds"]]
    if got != want:
        fail(f"kbd-sim's stdout rounds (round, reported) {got} do not match its exported workload {want}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kbd-sim", default=os.path.join(ROOT, ".build", "release", "kbd-sim"))
    ap.add_argument("--model", default="cifg-small")
    ap.add_argument("--corpus", default="synthetic")
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--cohort", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--local-epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--client-lr", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2 = the machine's cores)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = ap.parse_args()

    kbd_sim = os.path.abspath(args.kbd_sim)
    if not os.access(kbd_sim, os.X_OK):
        fail(f"no kbd-sim binary at {kbd_sim}: build it with `swift build -c release --product kbd-sim` "
             "or pass --kbd-sim PATH")
    setup_venv()

    with tempfile.TemporaryDirectory(prefix="bench-fedavg-") as tmp:
        workload_path = os.path.join(tmp, "workload.json")
        print(f"kbd-sim: {args.rounds} rounds, cohort {args.cohort} of {args.devices} devices...", file=sys.stderr)
        kbd = run_json([
            kbd_sim, "run", "--corpus", args.corpus, "--devices", str(args.devices), "--cohort", str(args.cohort),
            "--rounds", str(args.rounds), "--model", args.model, "--local-epochs", str(args.local_epochs),
            "--batch", str(args.batch), "--client-lr", str(args.client_lr), "--codec", "f32", "--eval-every", "0",
            "--db", os.path.join(tmp, "runs.sqlite"), "--json", "--export-workload", workload_path,
        ], "kbd-sim run")
        if not os.path.exists(workload_path):
            fail(f"kbd-sim run exited 0 but wrote no workload file ({workload_path})")
        with open(workload_path) as f:
            workload = json.load(f)
        check_same_rounds(kbd, workload)
        print(f"PyTorch: replaying the workload with {args.threads} threads...", file=sys.stderr)
        torch = run_json([PY, TORCH_FEDAVG, workload_path, "--threads", str(args.threads)], "torch_fedavg.py")

    epochs = workload["epochs"]
    ours = summarize(kbd["rounds"], workload, epochs)
    theirs = summarize(torch["rounds"], workload, epochs)
    speedup = theirs["mean round s"] / ours["mean round s"]
    config = {"model": args.model, "corpus": args.corpus, "devices": args.devices, "cohort": args.cohort,
              "rounds": args.rounds, "local epochs": epochs, "batch": workload["batch"], "client lr": workload["lr"],
              "max length": workload["maxLength"], "torch": torch["torch"], "torch threads": args.threads,
              "warm-up rounds": len(kbd["rounds"]) - ours["rounds timed"]}
    if args.json:
        print(json.dumps({"config": config, "kbd-sim": dict(ours, rounds=kbd["rounds"]),
                          "pytorch": dict(theirs, rounds=torch["rounds"]), "speedup": speedup}, indent=1))
        return

    warm = "round 0 left out as warm-up" if config["warm-up rounds"] else "no warm-up round left out"
    print(f"\nFedAvg rounds, {args.model}: cohort {args.cohort} of {args.devices:,} devices ({args.corpus} corpus), "
          f"{epochs} local epoch(s), batch {workload['batch']}, client lr {workload['lr']}; the same clients and "
          f"messages on both sides. Mean over {ours['rounds timed']} of {len(kbd['rounds'])} rounds ({warm}). "
          f"kbd-sim: whole round on 2 cores (fleet, training, f32 encoding, upload, aggregation, SQLite; the final evaluation excluded); "
          f"PyTorch {torch['torch']} eager CPU, torch.set_num_threads({args.threads}): local training + aggregation only.\n")
    print("| implementation | rounds timed | clients / round | client tokens / round | s / round "
          "| local training s / round | client tokens/s | speedup |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, s, x in (("kbd-sim", ours, speedup), ("PyTorch FedAvg loop", theirs, 1.0)):
        print(f"| {name} | {s['rounds timed']} | {s['clients per round']:.0f} | {s['tokens per round']:,.0f} "
              f"| {s['mean round s']:.2f} | {s['mean train s']:.2f} | {s['tokens/s']:,.0f} | {x:.1f}x |")


if __name__ == "__main__":
    main()
