#!/usr/bin/env python3
"""Replays a kbd-sim workload in pfl-research (Apple's pfl), for tools/bench_fedavg.py.

The workload is the JSON that `kbd-sim run ... --export-workload FILE` writes (see
tools/torch_fedavg.py). This script runs exactly those cohorts with pfl's PyTorch backend:

- the model is tools/torch_lstm.py's, wrapped with the `loss` and `metrics` methods that
  `pfl.model.pytorch.PyTorchModel` calls, with the same initial weights as torch_fedavg.py;
- `pfl.algorithm.FederatedAveraging` with central optimizer torch.optim.SGD(lr=1.0), i.e.
  plain FedAvg: the averaged model difference is added to the global model;
- local training is pfl's own loop (`PyTorchModel.do_multiple_epochs_of` with its SGD step):
  NNTrainHyperParams(local_learning_rate = the workload's lr, local_num_epochs = E,
  local_batch_size = B, local_max_grad_norm = 5.0), a new torch.optim.SGD per user;
- a `pfl.data.federated_dataset.FederatedDataset` whose user sampler returns the workload's
  clients in order, round after round; the algorithm sets each central iteration's cohort
  size to that round's number of clients, so iteration i trains exactly round i's clients;
- each user's `Dataset` holds the client's messages as a padded id tensor and the lengths,
  and reshuffles them every epoch (pfl's own `Dataset.iter` keeps a fixed order), with the
  same orders torch_fedavg.py draws for that client;
- weighting: a `WeightingStrategy` postprocessor that reweights each user's model difference
  by the workload's weight for that client (its target tokens), instead of pfl's
  `WeightByDatapoints` (which would weight by messages);
- no evaluation (pfl would evaluate every user before and after training in central
  iteration 0; this replay switches it off), no privacy mechanism;
- a round without clients asks pfl for no cohort (its backend fails on an empty one) and
  leaves the model as it is; in processes mode every round that has clients needs at
  least as many as there are processes (checked at start).

Modes: `threads` (one process, torch.set_num_threads(--threads, default 2)) and `processes`
(this script relaunches itself under `torchrun --standalone --nproc_per_node N`, default 2,
one torch thread each; pfl then splits every cohort between the processes, balancing them by
the clients' token counts, and all-reduces the summed statistics over torch.distributed,
gloo on CPU).

Measured on the process of rank 0: each round's wall time (from the algorithm's
get_next_central_contexts for that round to the one for the next: sampling, building the
user datasets, local training, weighting, aggregation and all-reduce, the central update,
pfl's callbacks and metrics output), the users' local training seconds, the token-weighted
training loss of the users' last epoch, and start-up: from the process start (the launcher's,
under torchrun) until the first user's local training begins.

Usage: pfl_fedavg.py WORKLOAD.json [--mode threads|processes] [--threads T] [--nproc N] [--rounds N]
Prints one JSON document on stdout (pfl's metric lines and all logs go to stderr). Needs
`pip install "pfl[pytorch]==0.6.*" torch numpy` in tools/.venv.
"""
import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
T0_ENV = "KBD_PFL_T0"
NPROC_ENV = "KBD_PFL_NPROC"
CLIP_NORM = 5.0


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


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workload")
    ap.add_argument("--mode", choices=("threads", "processes"), default="threads")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads per process (default: 2 in threads mode, 1 in processes mode)")
    ap.add_argument("--nproc", type=int, default=2, help="worker processes in processes mode (default 2)")
    ap.add_argument("--rounds", type=int, default=0, help="replay only the first N rounds (default: all)")
    return ap.parse_args()


def launch_torchrun(args, t_process):
    """Runs this script under torchrun, rank 0's stdout (the JSON) passed through."""
    runner = os.path.join(os.path.dirname(sys.executable), "torchrun")
    cmd = [runner] if os.access(runner, os.X_OK) else [sys.executable, "-m", "torch.distributed.run"]
    # The workers get --nproc through the environment: torchrun would take an option named
    # like one of its own (--nproc is a prefix of --nproc-per-node) even after the script.
    cmd += ["--standalone", "--nproc_per_node", str(args.nproc), os.path.abspath(__file__), args.workload,
            "--mode", "processes", "--threads", str(args.threads or 1), "--rounds", str(args.rounds)]
    env = dict(os.environ, **{T0_ENV: repr(t_process), NPROC_ENV: str(args.nproc),
                              "OMP_NUM_THREADS": str(args.threads or 1), "KBD_PFL_LAUNCH": " ".join(cmd)})
    print("pfl: " + " ".join(cmd), file=sys.stderr)
    sys.exit(subprocess.run(cmd, env=env).returncode)


def main():
    args = parse_args()
    t_process = float(os.environ[T0_ENV]) if T0_ENV in os.environ else process_start_time()
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ
    if args.mode == "processes" and not under_torchrun:
        if args.nproc < 1:
            sys.exit("--nproc must be at least 1")
        launch_torchrun(args, t_process)
    if args.mode == "threads" and under_torchrun:
        sys.exit("--mode threads is one process; run it without torchrun")
    threads = args.threads or (2 if args.mode == "threads" else 1)

    # Only the JSON document goes to stdout: pfl writes its per-iteration metrics to
    # sys.stdout, so stdout is sent to stderr at the file-descriptor level.
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import importlib.metadata as md

    import torch
    # Importing pfl's PyTorch model selects its PyTorch ops and, under torchrun, creates the
    # torch.distributed process group (gloo without CUDA).
    from pfl.model.pytorch import PyTorchModel
    from pfl.aggregate.simulate import SimulatedBackend
    from pfl.aggregate.weighting import WeightingStrategy
    from pfl.algorithm import FederatedAveraging, NNAlgorithmParams
    from pfl.callback.base import TrainingProcessCallback
    from pfl.data.dataset import Dataset
    from pfl.data.federated_dataset import FederatedDataset
    from pfl.hyperparam import NNTrainHyperParams
    from pfl.internal.ops import pytorch_ops
    from pfl.metrics import Metrics, StringMetricName, Summed, Weighted

    from torch_fedavg import load_workload
    from torch_lstm import Model, pack

    torch.set_num_threads(threads)
    dist = pytorch_ops.distributed
    rank, world = dist.global_rank, dist.world_size
    expected = int(os.environ.get(NPROC_ENV, args.nproc))
    if args.mode == "processes" and world != expected:
        sys.exit(f"pfl sees {world} worker process(es), expected {expected}")

    work = load_workload(os.path.abspath(args.workload))
    rounds = work["rounds"][:args.rounds] if args.rounds > 0 else work["rounds"]
    if not rounds:
        sys.exit("workload has no rounds")
    # A process that trains no user in a round all-reduces a shorter metrics vector than the
    # others; pfl gives every process at least one user when a round has as many as processes.
    short = [r["round"] for r in rounds if 0 < len(r["clients"]) < world]
    if short:
        sys.exit(f"rounds {short} have fewer clients than the {world} worker processes; use --mode threads")
    seed = work["model"].get("seed", 1)

    # torch_fedavg.py draws every client's epoch orders from one generator, clients in
    # order, rounds in order; its state before each client gives the same orders here.
    shuffle = torch.Generator().manual_seed(seed)
    states = {}
    for i, r in enumerate(rounds):
        for k, messages in enumerate(r["clients"]):
            states[f"r{i}c{k}"] = shuffle.get_state()
            for _ in range(work["epochs"]):
                torch.randperm(len(messages), generator=shuffle)

    user_ids = [f"r{i}c{k}" for i, r in enumerate(rounds) for k in range(len(r["clients"]))]
    tokens_of = {f"r{i}c{k}": int(w) for i, r in enumerate(rounds) for k, w in enumerate(r["weights"])}
    PAD = "past-the-end"
    tokens_of[PAD] = 0

    class LastEpochLoss:
        """Token-weighted loss of the current epoch of the user being trained."""

        def __init__(self):
            self.loss_sum = self.tokens = 0.0

        def reset(self):
            self.loss_sum = self.tokens = 0.0

    meter = LastEpochLoss()

    class KeyboardLSTM(Model):
        """tools/torch_lstm.py's model with the loss/metrics interface pfl's PyTorchModel calls."""

        @staticmethod
        def messages(ids, lengths):
            return [row[:n] for row, n in zip(ids.tolist(), lengths.tolist())]

        def loss(self, ids, lengths, eval=False):
            inputs, targets, offsets, active = pack(self.messages(ids, lengths))
            loss = torch.nn.functional.cross_entropy(self.forward_packed(inputs, offsets, active), targets)
            meter.loss_sum += loss.item() * len(targets)
            meter.tokens += len(targets)
            return loss

        @torch.no_grad()
        def metrics(self, ids, lengths, eval=False):
            inputs, targets, offsets, active = pack(self.messages(ids, lengths))
            loss = torch.nn.functional.cross_entropy(self.forward_packed(inputs, offsets, active), targets)
            return {"loss": Weighted(loss.item() * len(targets), len(targets))}

    class ClientMessages(Dataset):
        """One client's messages (padded ids + lengths), reshuffled at every epoch."""

        def __init__(self, ids, lengths, user_id, generator):
            super().__init__((ids, lengths), user_id=user_id)
            self._generator = generator

        def iter(self, batch_size):  # noqa: A003  (pfl's name)
            meter.reset()  # pfl calls iter once per local epoch: keep the last epoch's loss
            ids, lengths = self.raw_data
            order = torch.randperm(len(self), generator=self._generator)
            step = batch_size or len(self)
            for lo in range(0, len(self), step):
                pick = order[lo:lo + step]
                yield ids[pick], lengths[pick]

    def make_dataset(user_id):
        if user_id == PAD:
            raise RuntimeError("pfl asked for more users than the workload has")
        i, k = (int(x) for x in user_id[1:].split("c"))
        messages = rounds[i]["clients"][k]
        ids = torch.zeros(len(messages), max(len(m) for m in messages), dtype=torch.long)
        for row, m in enumerate(messages):
            ids[row, :len(m)] = torch.tensor(m, dtype=torch.long)
        gen = torch.Generator()
        gen.set_state(states[user_id])
        return ClientMessages(ids, torch.tensor([len(m) for m in messages], dtype=torch.long), user_id, gen)

    class ReplaySampler:
        """The workload's clients in order (round after round), then a past-the-end id."""

        def __init__(self, ids):
            self._ids = ids
            self._next = 0

        def __call__(self):
            if self._next >= len(self._ids):
                return PAD
            self._next += 1
            return self._ids[self._next - 1]

    class WeightByTokens(WeightingStrategy):
        """FedAvg weight of a user = the workload's weight for that client (target tokens)."""

        def postprocess_one_user(self, *, stats, user_context):
            stats.reweight(tokens_of[user_context.user_id])
            return stats, Metrics()

    clock = {"round start": {}, "first train": None}

    class ReplayFedAvg(FederatedAveraging):
        """pfl's FedAvg with each central iteration's cohort = that round's clients."""

        def get_next_central_contexts(self, model, iteration, algorithm_params, model_train_params,
                                      model_eval_params=None):
            clock["round start"][iteration] = time.time()
            contexts, model, metrics = super().get_next_central_contexts(
                model, iteration, algorithm_params, model_train_params, model_eval_params)
            if contexts is None:
                return contexts, model, metrics
            n = len(rounds[iteration]["clients"])
            if n == 0:
                # No client reported in this round. pfl cannot gather an empty cohort (its
                # backend fails on the empty metrics), so the round asks no cohort at all.
                return (), model, metrics
            return tuple(dataclasses.replace(c, cohort_size=n, do_evaluation=False) for c in contexts), model, metrics

        def process_aggregated_statistics_from_all_contexts(self, stats_context_pairs, aggregate_metrics, model):
            if not stats_context_pairs:  # no client in this round: the global model stays as it is
                return model, Metrics()
            return super().process_aggregated_statistics_from_all_contexts(stats_context_pairs, aggregate_metrics,
                                                                           model)

        def train_one_user(self, initial_model_state, model, user_dataset, central_context):
            start = time.time()
            if clock["first train"] is None:
                clock["first train"] = start
            stats, metrics = super().train_one_user(initial_model_state, model, user_dataset, central_context)
            train_s = time.time() - start
            metrics = metrics | Metrics([
                (StringMetricName("kbd train loss"), Weighted(meter.loss_sum, meter.tokens)),
                (StringMetricName("kbd train s"), Summed(train_s)),
                (StringMetricName("kbd clients"), Summed(1)),
                (StringMetricName("kbd tokens"), Summed(tokens_of[user_dataset.user_id])),
            ])
            return stats, metrics

    class Recorder(TrainingProcessCallback):
        def __init__(self):
            self.rounds = {}

        def after_central_iteration(self, aggregate_metrics, model, *, central_iteration):
            self.rounds[central_iteration] = {
                # float(): across processes pfl all-reduces the metrics as float32 arrays
                name: float(aggregate_metrics[StringMetricName(name)].overall_value)
                if StringMetricName(name) in aggregate_metrics else 0.0  # absent when no client trained
                for name in ("kbd train loss", "kbd train s", "kbd clients", "kbd tokens")}
            return False, Metrics()

    torch.manual_seed(seed)  # the initial model of torch_fedavg.py
    module = KeyboardLSTM(work["model"])
    model = PyTorchModel(model=module, local_optimizer_create=torch.optim.SGD,
                         central_optimizer=torch.optim.SGD(module.parameters(), lr=1.0))
    dataset = FederatedDataset(make_dataset_fn=make_dataset, user_sampler=ReplaySampler(user_ids),
                               user_id_to_weight=tokens_of)
    backend = SimulatedBackend(training_data=dataset, val_data=None, postprocessors=[WeightByTokens()])
    recorder = Recorder()
    algorithm = ReplayFedAvg()
    algorithm.run(
        algorithm_params=NNAlgorithmParams(central_num_iterations=len(rounds), evaluation_frequency=1,
                                           train_cohort_size=max(len(r["clients"]) for r in rounds),
                                           val_cohort_size=None),
        backend=backend, model=model,
        model_train_params=NNTrainHyperParams(local_batch_size=work["batch"], local_num_epochs=work["epochs"],
                                              local_learning_rate=work["lr"], local_max_grad_norm=CLIP_NORM),
        model_eval_params=None, callbacks=[recorder])
    t_done = time.time()

    results = []
    for i, r in enumerate(rounds):
        m = recorder.rounds[i]
        wall_s = clock["round start"][i + 1] - clock["round start"][i]
        tokens = sum(r["weights"])
        if round(m["kbd clients"]) != len(r["clients"]) or round(m["kbd tokens"]) != tokens:
            sys.exit(f"round {r['round']}: pfl trained {m['kbd clients']} users / {m['kbd tokens']} tokens, "
                     f"the workload has {len(r['clients'])} / {tokens}")
        results.append({"round": r["round"], "clients": len(r["clients"]), "tokens": tokens, "wall s": wall_s,
                        "train s": m["kbd train s"], "train loss": m["kbd train loss"]})
        if rank == 0:
            print(f"round {r['round']}: {len(r['clients'])} clients, {tokens} tokens, {wall_s:.2f} s, "
                  f"loss {m['kbd train loss']:.3f}", file=sys.stderr)
    if rank != 0:
        return

    epochs = work["epochs"]
    kept = results[1:] if len(results) > 2 else results  # round 1 is warm-up when more than 2
    json.dump({
        "framework": "pfl", "pfl": md.version("pfl"), "torch": torch.__version__, "numpy": md.version("numpy"),
        "mode": args.mode, "processes": world, "threads": threads,
        "distributed backend": torch.distributed.get_backend() if world > 1 else None,
        "launcher": os.environ.get("KBD_PFL_LAUNCH") if world > 1 else None,
        "model": work["model"].get("name"), "epochs": epochs, "batch": work["batch"], "lr": work["lr"],
        "rounds": results, "warm-up rounds": len(results) - len(kept),
        "mean round s": sum(x["wall s"] for x in kept) / len(kept),
        "mean train s": sum(x["train s"] for x in kept) / len(kept),
        "tokens/s": epochs * sum(x["tokens"] for x in kept) / sum(x["wall s"] for x in kept),
        "startup s": clock["first train"] - t_process,
        "run s": t_done - t_process,
    }, json_out, indent=1)
    json_out.write("\n")
    json_out.flush()


if __name__ == "__main__":
    main()
