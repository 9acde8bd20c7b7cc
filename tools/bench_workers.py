#!/usr/bin/env python3
"""Scale-out benchmark: the same run trained by 1 worker process, then by 2, side by side.

    python3 tools/bench_workers.py --kbd-sim .build-rel/release/kbd-sim [--cohort 200 --rounds 3 ...]

For each worker count it starts a fresh `kbd-sim server` (its own store), starts the workers
(`kbd-sim worker --threads T`), drives the run with `kbd-sim run --server URL --remote-training
--shard-size S`, and measures from /proc:

- wall seconds of the steady rounds: from the commit of round 1 to the commit of round R-1
  (round 1 includes every process loading the corpus, round R the final evaluation; both
  are left out, so R must be at least 3);
- CPU seconds over the same window of the coordinator (the server process), the driver, and
  all workers together;

then prints the speed-up of 2 workers over 1 and the coordinator's CPU as a share of the
workers' CPU, as a table and (--json) as JSON. Both runs must end with the same model hash
(the script checks it): the workers change the speed, not the result.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

CORPORA = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpora"))
TICKS = os.sysconf(os.sysconf_names["SC_CLK_TCK"])


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_server(kbd_sim, folder):
    db = os.path.join(folder, "server.sqlite")
    server = subprocess.Popen(
        [kbd_sim, "server", "--port", "0", "--db", db, "--log-level", "warning", "--corpora", CORPORA],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    log = ""
    while time.time() < deadline:
        line = server.stderr.readline()
        if not line:
            break
        log += line
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            return server, m.group(1), db + ".token"
    server.kill()
    sys.exit(f"the server did not start:\n{log}")


def committed_rounds(url, token):
    """kbdsim_rounds_committed_total from the coordinator's /metrics."""
    import urllib.request
    request = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=30) as reply:
        text = reply.read().decode()
    m = re.search(r"^kbdsim_rounds_committed_total (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def measure(kbd_sim, workers, threads, run_flags, rounds, folder):
    children = []
    try:
        return measure_once(kbd_sim, workers, threads, run_flags, rounds, folder, children)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()


def measure_once(kbd_sim, workers, threads, run_flags, rounds, folder, children):
    server, url, token = start_server(kbd_sim, folder)
    children.append(server)
    procs = [
        subprocess.Popen(
            [kbd_sim, "worker", "--coordinator", url, "--token-file", token, "--slot", str(i),
             "--threads", str(threads), "--exit-when-idle", "600", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for i in range(workers)
    ]
    children.extend(procs)
    with open(token) as f:
        secret = f.read().strip()
    driver = subprocess.Popen(
        [kbd_sim, "run", "--server", url, "--token-file", token, "--remote-training", "--json"] + run_flags,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(driver)

    def snapshot():
        return time.time(), cpu_seconds(server.pid), cpu_seconds(driver.pid), sum(cpu_seconds(p.pid) for p in procs)

    # The window: from round 1's commit to round R-1's, polled every 200 ms (the polling is
    # coordinator CPU too, so it is kept rare).
    marks = {}
    while driver.poll() is None and len(marks) < 2:
        done = committed_rounds(url, secret)
        for edge in (1, rounds - 1):
            if done >= edge and edge not in marks:
                marks[edge] = snapshot()
        time.sleep(0.2)
    out, err = driver.communicate()
    if driver.returncode != 0 or len(marks) < 2:
        sys.exit(f"the run failed or ended before the window closed ({driver.returncode}):\n{err}")
    summary = json.loads(out)["summary"]
    (t0, s0, d0, w0), (t1, s1, d1, w1) = marks[1], marks[rounds - 1]
    wall, server_cpu, driver_cpu, worker_cpu = t1 - t0, s1 - s0, d1 - d0, w1 - w0
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=120)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=120)
    return {
        "workers": workers, "threads per worker": threads, "wall s": wall, "coordinator cpu s": server_cpu,
        "driver cpu s": driver_cpu, "workers cpu s": worker_cpu, "model sha256": summary["model sha256"],
        "steady rounds": rounds - 2,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kbd-sim", default=".build-rel/release/kbd-sim")
    ap.add_argument("--threads", type=int, default=1, help="training threads per worker")
    ap.add_argument("--cohort", type=int, default=200)
    ap.add_argument("--shard-size", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5, help="at least 3: the first and last are left out")
    ap.add_argument("--model", default="cifg-small")
    ap.add_argument("--vocab", type=int, default=3000)
    ap.add_argument("--corpus", default="synthetic:" + os.path.join(CORPORA, "synthetic-small.json"))
    ap.add_argument("--extra", default="", help="more run flags, one string")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.rounds < 3:
        sys.exit("--rounds must be at least 3 (round 1 and the last are left out of the window)")
    run_flags = [
        "--corpus", args.corpus, "--model", args.model, "--vocab", str(args.vocab), "--devices", "200000",
        "--cohort", str(args.cohort), "--shard-size", str(args.shard_size), "--rounds", str(args.rounds),
        "--eval-every", "0", "--seed", "3",
    ] + args.extra.split()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kbd-sim-bench-workers-") as folder:
        for workers in (1, 2):
            sub = os.path.join(folder, f"w{workers}")
            os.makedirs(sub)
            rows.append(measure(args.kbd_sim, workers, args.threads, run_flags, args.rounds, sub))
    one, two = rows
    same = one["model sha256"] == two["model sha256"]
    result = {
        "runs": rows, "speed-up": one["wall s"] / two["wall s"],
        "coordinator/workers cpu": two["coordinator cpu s"] / max(two["workers cpu s"], 1e-9),
        "coordinator cpu s per round": two["coordinator cpu s"] / two["steady rounds"], "same model": same,
        "run flags": " ".join(run_flags),
    }
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"run: {result['run flags']}")
        print(f"steady rounds 2…{args.rounds - 1} (round 1 loads the corpus everywhere, round {args.rounds} evaluates)")
        print(f"{'workers':>7}  {'wall s':>8}  {'coordinator cpu s':>17}  {'driver cpu s':>12}  {'workers cpu s':>13}  model sha256")
        for r in rows:
            print(f"{r['workers']:>7}  {r['wall s']:>8.2f}  {r['coordinator cpu s']:>17.2f}  {r['driver cpu s']:>12.2f}  "
                  f"{r['workers cpu s']:>13.2f}  {r['model sha256'][:16]}")
        print(f"speed-up of 2 workers over 1: {result['speed-up']:.2f}x")
        print(f"coordinator CPU / workers' CPU (2 workers): {100 * result['coordinator/workers cpu']:.1f}%"
              f"  ({result['coordinator cpu s per round']:.2f} s per round)")
        print(f"same model with 1 and 2 workers: {same}")
    if not same:
        sys.exit("the model differs between 1 and 2 workers")


if __name__ == "__main__":
    main()
