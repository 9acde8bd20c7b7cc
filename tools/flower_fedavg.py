#!/usr/bin/env python3
"""Replays a kbd-sim workload in Flower's simulation engine, for tools/bench_fedavg.py.

The workload is the JSON that `kbd-sim run ... --export-workload FILE` writes (see
tools/torch_fedavg.py). This script runs exactly those cohorts as a Flower app:

- `flwr.simulation.run_simulation` with a message-API `ServerApp` and `ClientApp`, Ray
  backend, the Ray cluster limited to A x C CPUs (A actors, `client_resources` num_cpus = C);
- num_supernodes = the largest cohort of the workload; the server's strategy is Flower's
  `flwr.serverapp.strategy.FedAvg` with fraction_train 1.0 (every node, every round) and no
  federated evaluation (fraction_evaluate 0.0);
- in round r the supernode with partition-id k trains on round r's client k; a node with no
  client in that round (only when rounds report different numbers of clients) sends the
  global weights back with weight 0, so it adds nothing to the average;
- the client's local training is tools/torch_fedavg.py's own `train_locally` (SGD at the
  workload's lr, clip_grad_norm_ 5, E epochs over minibatches of B messages reshuffled each
  epoch) on the model of tools/torch_lstm.py, with torch.set_num_threads(C); the shuffle
  order of client k in round r is the one torch_fedavg.py draws for that client (its single
  generator replayed up to that client), and the initial model is the same, so the work is
  the PyTorch loop's;
- FedAvg weights = the workload's weights (target tokens per client), sent as the
  "num-examples" metric Flower's FedAvg weights by. Flower averages the clients' weights
  (sum w_i x_i / sum w_i), the PyTorch loop adds the averaged delta; that is the same
  update up to float rounding.

Measured: the wall time of each round on the server side (from the strategy's
configure_train to the end of its aggregate_train: sampling, sending the model to every
node, the clients' work in the Ray actors, the replies, aggregation), the clients' local
training seconds, the token-weighted training loss of the clients' last epoch, and start-up:
from this process's start (and from the run_simulation call) until the first client of round
1 begins training (imports, Ray start, actor start, the first message).

Usage: flower_fedavg.py WORKLOAD.json [--actors A] [--cpus-per-actor C] [--rounds N]
Prints one JSON document on stdout (everything else, Flower's and Ray's logs included, goes
to stderr). Needs `pip install "flwr[simulation]==1.42.0" torch numpy` in tools/.venv.
"""
import argparse
import json
import os
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
# Flower reports usage events over the network unless told not to; this machine has no
# route to it, so switch it off before flwr is imported (here and in the Ray workers).
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

import torch  # noqa: E402
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402

from torch_fedavg import load_workload, train_locally  # noqa: E402
from torch_lstm import Model  # noqa: E402


def process_start_time():
    """Wall-clock time at which this process was started (Linux /proc), else now."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def shuffle_states(work, rounds, seed):
    """The state of torch_fedavg.py's shuffle generator before each (round index, client).

    torch_fedavg.py draws every client's epoch orders from one generator, clients in order,
    rounds in order; replaying those draws gives each client here the same orders.
    """
    gen = torch.Generator().manual_seed(seed)
    states = {}
    for i, r in enumerate(rounds):
        for k, messages in enumerate(r["clients"]):
            states[(i, k)] = gen.get_state()
            for _ in range(work["epochs"]):
                torch.randperm(len(messages), generator=gen)
    return states


def replayed_rounds(work, limit):
    rounds = work["rounds"][:limit] if limit > 0 else work["rounds"]
    if not rounds:
        sys.exit("workload has no rounds")
    return rounds


# --- client side (runs in the Ray actors; this module is imported there by name) ---------

_CLIENT = {}


def _client_state(path, limit):
    """Per actor process: the workload, a model, its optimizer and the shuffle states."""
    key = (path, limit)
    if key not in _CLIENT:
        work = load_workload(path)
        rounds = replayed_rounds(work, limit)
        model = Model(work["model"])
        _CLIENT.clear()
        _CLIENT[key] = {
            "work": work, "rounds": rounds, "model": model,
            # Plain SGD keeps no state, so one optimizer serves every client of this actor.
            "opt": torch.optim.SGD(model.parameters(), lr=work["lr"]),
            "states": shuffle_states(work, rounds, work["model"].get("seed", 1)),
        }
    return _CLIENT[key]


def client_train(msg: Message, context: Context) -> Message:
    start = time.time()
    config = msg.content["config"]
    state = _client_state(config["workload"], int(config["rounds"]))
    torch.set_num_threads(int(config["threads"]))
    index = int(config["server-round"]) - 1
    k = int(context.node_config["partition-id"])
    r = state["rounds"][index]
    arrays = msg.content["arrays"]
    if k >= len(r["clients"]):
        # No client of this round on this node: the global weights back, with weight 0.
        metrics = MetricRecord({"num-examples": 0, "train loss": 0.0, "train s": 0.0,
                                "train start": start, "pid": os.getpid(), "client": -1})
        return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)
    work, model = state["work"], state["model"]
    weights = arrays.to_torch_state_dict()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(weights[name])
    gen = torch.Generator()
    gen.set_state(state["states"][(index, k)])
    train_start = time.time()
    loss = train_locally(model, state["opt"], r["clients"][k], work["epochs"], work["batch"], gen)
    train_s = time.time() - train_start
    out = ArrayRecord({name: p.detach() for name, p in model.named_parameters()})
    metrics = MetricRecord({"num-examples": int(r["weights"][k]), "train loss": float(loss), "train s": train_s,
                            "train start": train_start, "pid": os.getpid(), "client": k})
    return Message(RecordDict({"arrays": out, "metrics": metrics}), reply_to=msg)


def make_client_app():
    app = ClientApp()
    app.train()(client_train)
    return app


# --- server side (runs in this process, in Flower's ServerApp thread) ---------------------

def aggregate_train_metrics(records, weight_key):
    """Round summary of the clients' MetricRecords: token-weighted loss, summed training s."""
    rows = [next(iter(rec.metric_records.values())) for rec in records]
    total = sum(m[weight_key] for m in rows)
    return MetricRecord({
        "train loss": sum(m["train loss"] * m[weight_key] for m in rows) / total if total else 0.0,
        "train s": sum(m["train s"] for m in rows),
        "first train start": min(m["train start"] for m in rows),
        "clients": sum(1 for m in rows if m["client"] >= 0),
        "tokens": total,
        "actor pids": sorted({int(m["pid"]) for m in rows}),
    })


class ReplayFedAvg(FedAvg):
    """Flower's FedAvg with each round's wall time taken on the server side."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.started = {}
        self.ended = {}
        self.metrics = {}
        self._arrays = None

    def configure_train(self, server_round, arrays, config, grid):
        self.started[server_round] = time.time()
        self._arrays = arrays
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):
        replies = list(replies)
        weights = [next(iter(m.content.metric_records.values()))[self.weighted_by_key]
                   for m in replies if not m.has_error()]
        if weights and sum(weights) == 0:
            # No client reported in this round: the global model stays as it is.
            arrays, metrics = self._arrays, aggregate_train_metrics(
                [m.content for m in replies if not m.has_error()], self.weighted_by_key)
        else:
            arrays, metrics = super().aggregate_train(server_round, replies)
        self.ended[server_round] = time.time()
        errors = [m.error.reason for m in replies if m.has_error()]
        if errors:
            raise RuntimeError(f"round {server_round}: {len(errors)} client(s) failed, first: {errors[0]}")
        self.metrics[server_round] = metrics
        return arrays, metrics


def make_server_app(path, work, rounds, threads, supernodes, result):
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        seed = work["model"].get("seed", 1)
        torch.manual_seed(seed)  # the initial model of torch_fedavg.py
        model = Model(work["model"])
        initial = ArrayRecord({name: p.detach() for name, p in model.named_parameters()})
        strategy = ReplayFedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=supernodes,
                                min_available_nodes=supernodes, weighted_by_key="num-examples",
                                train_metrics_aggr_fn=aggregate_train_metrics)
        config = ConfigRecord({"workload": path, "rounds": len(rounds), "threads": threads})
        strategy.start(grid=grid, initial_arrays=initial, num_rounds=len(rounds), train_config=config)
        result["strategy"] = strategy

    return app


def main():
    t_process = process_start_time()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workload")
    ap.add_argument("--actors", type=int, default=2, help="Ray actors (default 2)")
    ap.add_argument("--cpus-per-actor", type=int, default=1, help="client_resources num_cpus and torch threads (default 1)")
    ap.add_argument("--rounds", type=int, default=0, help="replay only the first N rounds (default: all)")
    args = ap.parse_args()
    if args.actors < 1 or args.cpus_per_actor < 1:
        sys.exit("--actors and --cpus-per-actor must be at least 1")
    cpus = args.actors * args.cpus_per_actor
    if cpus > (os.cpu_count() or 1):
        sys.exit(f"{args.actors} actors x {args.cpus_per_actor} CPUs = {cpus} CPUs, but this machine has {os.cpu_count()}")

    # Only the JSON document goes to stdout: Flower, Ray and the actors' forwarded output
    # are sent to stderr at the file-descriptor level.
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import flwr
    import ray
    from flwr.simulation import run_simulation

    path = os.path.abspath(args.workload)
    work = load_workload(path)
    rounds = replayed_rounds(work, args.rounds)
    supernodes = max(len(r["clients"]) for r in rounds)
    if supernodes == 0:
        sys.exit("no round of the workload has a client")

    # This module under its own name, so that cloudpickle sends the ClientApp's function to
    # the Ray actors by reference (they import tools/flower_fedavg.py) rather than by value.
    import flower_fedavg as this
    result = {}
    backend_config = {
        "client_resources": {"num_cpus": args.cpus_per_actor, "num_gpus": 0.0},
        "init_args": {"num_cpus": cpus, "num_gpus": 0},
    }
    t_call = time.time()
    run_simulation(server_app=this.make_server_app(path, work, rounds, args.cpus_per_actor, supernodes, result),
                   client_app=this.make_client_app(), num_supernodes=supernodes,
                   backend_name="ray", backend_config=backend_config)
    t_done = time.time()
    strategy = result.get("strategy")
    if strategy is None or len(strategy.metrics) != len(rounds):
        sys.exit(f"the Flower run did not finish its {len(rounds)} rounds")

    results = []
    pids = set()
    for i, r in enumerate(rounds):
        m = strategy.metrics[i + 1]
        pids.update(m["actor pids"])
        wall_s = strategy.ended[i + 1] - strategy.started[i + 1]
        tokens = sum(r["weights"])
        if int(m["tokens"]) != tokens or int(m["clients"]) != len(r["clients"]):
            sys.exit(f"round {r['round']}: the clients reported {m['clients']} clients / {m['tokens']} tokens, "
                     f"the workload has {len(r['clients'])} / {tokens}")
        results.append({"round": r["round"], "clients": len(r["clients"]), "tokens": tokens, "wall s": wall_s,
                        "train s": m["train s"], "train loss": m["train loss"]})
        print(f"round {r['round']}: {len(r['clients'])} clients, {tokens} tokens, {wall_s:.2f} s, "
              f"loss {m['train loss']:.3f}", file=sys.stderr)
    first_train = strategy.metrics[1]["first train start"]

    epochs = work["epochs"]
    kept = results[1:] if len(results) > 2 else results  # round 1 is warm-up when more than 2
    import importlib.metadata as md
    json.dump({
        "framework": "flower", "flwr": flwr.__version__, "ray": ray.__version__, "torch": torch.__version__,
        "numpy": md.version("numpy"), "backend": "ray", "actors": args.actors, "cpus per actor": args.cpus_per_actor,
        "ray cpus": cpus, "actor processes seen": len(pids), "threads": args.cpus_per_actor,
        "supernodes": supernodes, "model": work["model"].get("name"), "epochs": epochs, "batch": work["batch"],
        "lr": work["lr"], "rounds": results, "warm-up rounds": len(results) - len(kept),
        "mean round s": sum(x["wall s"] for x in kept) / len(kept),
        "mean train s": sum(x["train s"] for x in kept) / len(kept),
        "tokens/s": epochs * sum(x["tokens"] for x in kept) / sum(x["wall s"] for x in kept),
        "startup s": first_train - t_process,
        "startup from run_simulation s": first_train - t_call,
        "run_simulation s": t_done - t_call,
    }, json_out, indent=1)
    json_out.write("\n")
    json_out.flush()


if __name__ == "__main__":
    main()
