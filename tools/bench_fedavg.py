#!/usr/bin/env python3
"""Times kbd-sim's federated rounds against a plain PyTorch FedAvg loop and two FL frameworks doing the same work.

1. `kbd-sim run` simulates R rounds (fleet of --devices phones, cohort --cohort, local
   training, f32 uplink, FedAvg, SQLite) and exports the workload: per round the messages of
   every reporting client and their FedAvg weights (--export-workload).
2. tools/torch_fedavg.py replays that workload in eager PyTorch: same model, same clients
   and messages, same local epochs, batch size and learning rate.
3. Unless skipped, the same workload file is replayed, one run after another, by
   - tools/flower_fedavg.py: Flower's simulation engine (run_simulation, Ray backend, Flower's
     FedAvg), as 2 actors x 1 CPU and as 1 actor x 2 CPUs (the Ray cluster: 2 CPUs);
   - tools/pfl_fedavg.py: pfl-research (pfl.algorithm.FederatedAveraging, PyTorch backend),
     as 1 process x 2 threads and as 2 processes x 1 thread (torchrun, gloo).
   Both use the PyTorch loop's model, initial weights, local training and shuffle orders.
4. Prints a markdown table (or --json): per implementation the rounds timed, mean seconds per
   round (round 0 left out as warm-up when more than 2 rounds), start-up seconds, client
   tokens/s (local epochs x target tokens of the round's clients / round wall time) and
   kbd-sim's speedup (the other side's s/round / kbd-sim's). With --skip-flower and
   --skip-pfl it prints the original two-row table.

kbd-sim's figure is the wall time of its whole round (fleet simulation, local training,
encoding, upload, aggregation, server step, SQLite commit); PyTorch's covers only local
training and aggregation, the frameworks' their own round loop (see each script), so the
comparison favours the others. Run it on an otherwise idle machine: with 2 threads on 2
cores, PyTorch slows down several times over while another process holds a core.

Usage: python3 tools/bench_fedavg.py [--kbd-sim PATH] [--model cifg-small] [--devices 100000]
         [--cohort 50] [--rounds 5] [--local-epochs 1] [--batch 16] [--client-lr 0.5]
         [--corpus synthetic] [--threads 2] [--skip-flower] [--skip-pfl] [--json] [--json-file FILE]
Sets up tools/.venv (pip install torch numpy) on first use; the frameworks must be installed
into it by hand (the script says how); expects kbd-sim built in release
(swift build -c release --product kbd-sim).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "tools", ".venv")
PY = os.path.join(VENV, "bin", "python")
TORCH_FEDAVG = os.path.join(ROOT, "tools", "torch_fedavg.py")
FLOWER_FEDAVG = os.path.join(ROOT, "tools", "flower_fedavg.py")
PFL_FEDAVG = os.path.join(ROOT, "tools", "pfl_fedavg.py")
# What the framework scripts were written against, and how to install it into tools/.venv.
FRAMEWORKS = {
    "flower": {"check": "import flwr, ray, torch",
               "pip": 'tools/.venv/bin/python -m pip install "flwr[simulation]==1.42.0"'},
    "pfl": {"check": "import pfl, torch.distributed",
            "pip": 'tools/.venv/bin/python -m pip install "pfl[pytorch]==0.6.*"'},
}


def fail(message):
    sys.exit("bench_fedavg: " + message)


def setup_venv():
    """Creates tools/.venv with torch from PyPI unless it is there (the same venv as bench_lstm.py)."""
    if not os.path.exists(PY):
        print("creating tools/.venv with torch...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([PY, "-c", "import torch, numpy"], capture_output=True).returncode != 0:
        subprocess.run([PY, "-m", "pip", "install", "-q", "torch", "numpy"], check=True)


def run_timed(cmd, what, must=True):
    """Runs cmd (its stderr shown live) and parses its stdout as one JSON document.

    Returns (document, wall seconds of the process, None); with must=False a failure
    returns (None, wall seconds, the reason) instead of ending the benchmark.
    """
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE)
    wall = time.perf_counter() - start
    error = None
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-20:])
        error = (f"{what} failed with exit status {proc.returncode} (its errors are above): {' '.join(cmd)}"
                 + (f"\nits stdout ended with:\n{tail}" if tail else ""))
    else:
        try:
            return json.loads(proc.stdout), wall, None
        except json.JSONDecodeError as e:
            error = f"{what} did not print one JSON document ({e}); stdout began: {proc.stdout[:300]!r}"
    if must:
        fail(error)
    print(f"bench_fedavg: {error}", file=sys.stderr)
    return None, wall, error


def check_framework(name):
    """Fails with the pip command unless the framework imports in tools/.venv."""
    fw = FRAMEWORKS[name]
    proc = subprocess.run([PY, "-c", fw["check"]], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        fail(f"{name} is not installed in tools/.venv (`{fw['check']}`: {last}). Install it with\n"
             f"    {fw['pip']}\nor leave it out with --skip-{name}.")


def outside_rounds(process_s, rounds):
    """Seconds of a process outside its rounds: start-up, shutdown and whatever else it does."""
    return process_s - sum(r["wall s"] for r in rounds)


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
    ap.add_argument("--skip-flower", action="store_true", help="do not run Flower (tools/flower_fedavg.py)")
    ap.add_argument("--skip-pfl", action="store_true", help="do not run pfl-research (tools/pfl_fedavg.py)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    ap.add_argument("--json-file", metavar="FILE", help="also write the JSON document to FILE")
    args = ap.parse_args()

    kbd_sim = os.path.abspath(args.kbd_sim)
    if not os.access(kbd_sim, os.X_OK):
        fail(f"no kbd-sim binary at {kbd_sim}: build it with `swift build -c release --product kbd-sim` "
             "or pass --kbd-sim PATH")
    setup_venv()
    for name in ("flower", "pfl"):
        if not getattr(args, f"skip_{name}"):
            check_framework(name)
    version = subprocess.run([kbd_sim, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    kbd_version = version[0] if version else "?"

    # (framework, configuration label, script, its flags)
    runs = []
    if not args.skip_flower:
        runs += [("flower", "2 actors x 1 CPU", FLOWER_FEDAVG, ["--actors", "2", "--cpus-per-actor", "1"]),
                 ("flower", "1 actor x 2 CPUs", FLOWER_FEDAVG, ["--actors", "1", "--cpus-per-actor", "2"])]
    if not args.skip_pfl:
        runs += [("pfl", "1 process x 2 threads", PFL_FEDAVG, ["--mode", "threads", "--threads", "2"]),
                 ("pfl", "2 processes x 1 thread (torchrun, gloo)", PFL_FEDAVG,
                  ["--mode", "processes", "--nproc", "2", "--threads", "1"])]

    with tempfile.TemporaryDirectory(prefix="bench-fedavg-") as tmp:
        workload_path = os.path.join(tmp, "workload.json")
        print(f"kbd-sim: {args.rounds} rounds, cohort {args.cohort} of {args.devices} devices...", file=sys.stderr)
        kbd, kbd_process_s, _ = run_timed([
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
        torch, torch_process_s, _ = run_timed([PY, TORCH_FEDAVG, workload_path, "--threads", str(args.threads)],
                                              "torch_fedavg.py")
        done = []
        for framework, label, script, flags in runs:
            print(f"{framework}: replaying the workload, {label}...", file=sys.stderr)
            doc, process_s, error = run_timed([PY, script, workload_path] + flags,
                                              f"{os.path.basename(script)} ({label})", must=False)
            done.append((framework, label, doc, process_s, error))

    epochs = workload["epochs"]
    ours = summarize(kbd["rounds"], workload, epochs)
    theirs = summarize(torch["rounds"], workload, epochs)
    speedup = theirs["mean round s"] / ours["mean round s"]
    config = {"model": args.model, "corpus": args.corpus, "devices": args.devices, "cohort": args.cohort,
              "rounds": args.rounds, "local epochs": epochs, "batch": workload["batch"], "client lr": workload["lr"],
              "max length": workload["maxLength"], "torch": torch["torch"], "torch threads": args.threads,
              "warm-up rounds": len(kbd["rounds"]) - ours["rounds timed"], "kbd-sim version": kbd_version,
              "cores": os.cpu_count()}

    frameworks = []
    for framework, label, doc, process_s, error in done:
        entry = {"framework": framework, "configuration": label, "process s": process_s}
        if doc is not None:
            got = [(r["round"], r["clients"]) for r in doc["rounds"]]
            want = [(r["round"], len(r["clients"])) for r in workload["rounds"]]
            if got != want:
                error = f"its rounds (round, clients) {got} are not the workload's {want}"
        if error is not None:
            entry["error"] = error
        else:
            s = summarize(doc["rounds"], workload, epochs)
            if framework == "flower":
                entry["implementation"] = f"Flower {doc['flwr']} (Ray {doc['ray']}, torch {doc['torch']})"
                entry["versions"] = {"flwr": doc["flwr"], "ray": doc["ray"], "torch": doc["torch"]}
            else:
                entry["implementation"] = f"pfl-research {doc['pfl']} (torch {doc['torch']})"
                entry["versions"] = {"pfl": doc["pfl"], "torch": doc["torch"]}
            entry.update(s)
            entry.update({"startup s": doc["startup s"], "speedup": s["mean round s"] / ours["mean round s"],
                          "round 1 train loss": doc["rounds"][0]["train loss"], "rounds": doc["rounds"],
                          "report": doc})
        frameworks.append(entry)
    ok = [f for f in frameworks if "error" not in f]
    targets = {}
    for framework, target in (("flower", 3.0), ("pfl", 2.0)):
        mine = [f for f in ok if f["framework"] == framework]
        if mine:
            best = min(mine, key=lambda f: f["mean round s"])
            targets[framework] = {"fastest configuration": best["configuration"], "speedup": best["speedup"],
                                  "target": target, "met": best["speedup"] >= target}

    document = {"config": config,
                "kbd-sim": dict(ours, rounds=kbd["rounds"], **{
                    "process s": kbd_process_s, "outside rounds s": outside_rounds(kbd_process_s, kbd["rounds"])}),
                "pytorch": dict(theirs, rounds=torch["rounds"], **{
                    "process s": torch_process_s,
                    "outside rounds s": outside_rounds(torch_process_s, torch["rounds"]),
                    "round 1 train loss": torch["rounds"][0]["train loss"]}),
                "speedup": speedup, "frameworks": frameworks, "targets": targets}
    if args.json_file:
        with open(args.json_file, "w") as f:
            json.dump(document, f, indent=1)
    if args.json:
        print(json.dumps(document, indent=1))
    elif not runs:
        print_two_rows(args, workload, epochs, ours, theirs, speedup, kbd, torch, config)
    else:
        print_table(args, workload, epochs, ours, theirs, speedup, kbd, torch, config, kbd_process_s,
                    torch_process_s, frameworks, targets)
    if len(ok) != len(frameworks):
        sys.exit(1)


def print_two_rows(args, workload, epochs, ours, theirs, speedup, kbd, torch, config):
    """The original table: kbd-sim against the plain PyTorch loop."""
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


def print_table(args, workload, epochs, ours, theirs, speedup, kbd, torch, config, kbd_process_s, torch_process_s,
                frameworks, targets):
    """One table: kbd-sim, the PyTorch loop and every framework configuration."""
    warm = "round 0 left out as warm-up" if config["warm-up rounds"] else "no warm-up round left out"
    print(f"\nFedAvg rounds, {args.model}: cohort {args.cohort} of {args.devices:,} devices ({args.corpus} corpus), "
          f"{ours['clients per round']:.0f} clients and {ours['tokens per round']:,.0f} client tokens per round, "
          f"{epochs} local epoch(s), batch {workload['batch']}, client lr {workload['lr']}; the same exported cohorts "
          f"(clients, messages, weights) everywhere, one run after another on {config['cores']} cores. "
          f"Mean over {ours['rounds timed']} of {len(kbd['rounds'])} rounds ({warm}). kbd-sim: whole round "
          f"(fleet, training, f32 encoding, upload, aggregation, SQLite; the final evaluation excluded); the others: "
          f"their own round loop (local training, transport inside the framework, aggregation).\n")
    print("| implementation | configuration | rounds timed | s / round | start-up s | client tokens/s "
          "| kbd-sim speedup |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| kbd-sim {config['kbd-sim version']} | 2 training workers, 2 cores | {ours['rounds timed']} "
          f"| {ours['mean round s']:.2f} | ({outside_rounds(kbd_process_s, kbd['rounds']):.1f})* "
          f"| {ours['tokens/s']:,.0f} | — |")
    print(f"| PyTorch FedAvg loop (torch {torch['torch']}) | 1 process x {args.threads} threads "
          f"| {theirs['rounds timed']} | {theirs['mean round s']:.2f} "
          f"| ({outside_rounds(torch_process_s, torch['rounds']):.1f})* | {theirs['tokens/s']:,.0f} | {speedup:.1f}x |")
    for f in frameworks:
        if "error" in f:
            name = "Flower" if f["framework"] == "flower" else "pfl-research"
            print(f"| {name} | {f['configuration']} | failed | — | — | — | — |")
            continue
        print(f"| {f['implementation']} | {f['configuration']} | {f['rounds timed']} | {f['mean round s']:.2f} "
              f"| {f['startup s']:.1f} | {f['tokens/s']:,.0f} | {f['speedup']:.1f}x |")
    print("\n* kbd-sim and the PyTorch loop: the process's wall time outside its rounds (start-up and exit; for "
          "kbd-sim also building the fleet and writing the workload file). The frameworks: from the process start "
          "to the start of the first client's local training (imports, Ray or torch.distributed start, actors).")
    losses = [f"PyTorch loop {torch['rounds'][0]['train loss']:.6f}"]
    losses += [f"{'Flower' if f['framework'] == 'flower' else 'pfl'} {f['configuration']} {f['round 1 train loss']:.6f}"
               for f in frameworks if "error" not in f]
    print("\nRound 1 training loss (token-weighted, clients' last local epoch; the same work gives the same loss): "
          + "; ".join(losses) + ".")
    for framework, name in (("flower", "Flower"), ("pfl", "pfl-research")):
        if framework in targets:
            t = targets[framework]
            print(f"kbd-sim vs {name}'s faster configuration ({t['fastest configuration']}): {t['speedup']:.2f}x "
                  f"per round (target {t['target']:.0f}x: {'met' if t['met'] else 'not met'}).")
    for f in frameworks:
        if "error" in f:
            print(f"FAILED: {f['framework']} {f['configuration']}: {f['error']}")

if __name__ == "__main__":
    main()
