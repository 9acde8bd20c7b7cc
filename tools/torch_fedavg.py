#!/usr/bin/env python3
"""A plain PyTorch FedAvg loop over a kbd-sim workload, for tools/bench_fedavg.py.

The workload is the JSON that `kbd-sim run ... --export-workload FILE` writes: the model
config, the local-training hyperparameters and, per round, the messages of every reporting
client (word ids without <s>/</s>) in aggregation order with their FedAvg weights (token
counts). This script replays exactly that work the way a product team would write it in
eager PyTorch:

  for each round, for each client:
      load the global weights into the client model,
      E epochs over the client's messages (reshuffled each epoch), minibatches of B messages,
      each message <s> w1..wn </s> cut to maxLength words, torch.optim.SGD(lr) with
      clip_grad_norm_(5), no dropout;
      delta = local - global, accumulated with weight w_i;
  global += sum(w_i * delta_i) / sum(w_i)          (FedAvg, server learning rate 1)

The model, batch packing and loss come from tools/torch_lstm.py (same architecture and
parameter layout as kbd-sim's neural model).

Usage: torch_fedavg.py WORKLOAD.json [--rounds N] [--threads T] [--seed S]
Prints one JSON document: per round the clients, tokens (sum of the weights, i.e. target
tokens per epoch), wall seconds of the whole round and seconds of local training, the mean
training loss of the clients' last epoch and the norm of the averaged update; then the mean
round time (round 0 excluded as warm-up when more than 2 rounds are timed) and client
tokens/s (epochs x tokens / wall time over the same rounds).
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_lstm import Model, pack  # noqa: E402  (tools/ is a plain folder, not a package)

CLIP_NORM = 5.0


def load_workload(path):
    """Reads and checks the workload; returns it with every message already cut to maxLength."""
    with open(path) as f:
        work = json.load(f)
    vocab = work["model"]["vocabularySize"]
    limit = work["maxLength"]
    for r in work["rounds"]:
        if len(r["clients"]) != len(r["weights"]):
            sys.exit(f"workload round {r['round']}: {len(r['clients'])} clients but {len(r['weights'])} weights")
        for c, messages in enumerate(r["clients"]):
            for m in messages:
                if any(not (t == 1 or 4 <= t < vocab) for t in m):
                    sys.exit(f"workload round {r['round']} client {c}: a word id is not <unk> = 1 or in 4..{vocab - 1}")
            cut = [m[:limit] if limit > 0 else m for m in messages]
            tokens = sum(len(m) + 1 for m in cut)
            if tokens != r["weights"][c]:
                print(f"warning: round {r['round']} client {c}: weight {r['weights'][c]} but "
                      f"{tokens} target tokens", file=sys.stderr)
            r["clients"][c] = cut
    return work


def train_locally(model, opt, messages, epochs, batch, generator):
    """Plain local SGD on one client's messages; returns the token-weighted mean loss of the last epoch."""
    loss_sum = tokens = 0
    for _ in range(epochs):
        loss_sum = tokens = 0
        order = torch.randperm(len(messages), generator=generator).tolist()
        for lo in range(0, len(order), batch):
            inputs, targets, offsets, active = pack([messages[i] for i in order[lo:lo + batch]])
            opt.zero_grad(set_to_none=True)
            logits = model.forward_packed(inputs, offsets, active)
            loss = torch.nn.functional.cross_entropy(logits, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            opt.step()
            loss_sum += loss.item() * len(targets)
            tokens += len(targets)
    return loss_sum / tokens if tokens else 0.0


def fedavg_round(global_model, client_model, opt, clients, weights, work, generator):
    """One FedAvg round in place on global_model.

    Returns the seconds spent in local training, the weighted mean of the clients' last-epoch
    losses, the weighted sum of the deltas (by parameter name) and the sum of the weights.
    """
    global_params = dict(global_model.named_parameters())
    update = {n: torch.zeros_like(p) for n, p in global_params.items()}
    train_s = loss_sum = 0.0
    for messages, w in zip(clients, weights):
        client_model.load_state_dict(global_model.state_dict())
        start = time.perf_counter()
        loss = train_locally(client_model, opt, messages, work["epochs"], work["batch"], generator)
        train_s += time.perf_counter() - start
        loss_sum += loss * w
        with torch.no_grad():
            for n, p in client_model.named_parameters():
                update[n].add_(p - global_params[n], alpha=w)
    total = sum(weights)
    if total == 0:  # no client reported: the global model stays as it is
        return train_s, 0.0, update, total
    with torch.no_grad():
        for n, p in global_params.items():
            p.add_(update[n], alpha=1.0 / total)
    return train_s, loss_sum / total, update, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workload")
    ap.add_argument("--rounds", type=int, default=0, help="time only the first N rounds (default: all)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2 = the machine's cores)")
    ap.add_argument("--seed", type=int, default=None, help="init/shuffle seed (default: the model config's seed)")
    args = ap.parse_args()

    work = load_workload(args.workload)
    rounds = work["rounds"][:args.rounds] if args.rounds > 0 else work["rounds"]
    if not rounds:
        sys.exit("workload has no rounds")
    torch.set_num_threads(args.threads)
    seed = args.seed if args.seed is not None else work["model"].get("seed", 1)
    torch.manual_seed(seed)
    global_model = Model(work["model"])
    client_model = Model(work["model"])
    # Plain SGD keeps no state, so one optimizer serves every client: load_state_dict copies
    # the global weights into the same parameter tensors it updates.
    opt = torch.optim.SGD(client_model.parameters(), lr=work["lr"])
    generator = torch.Generator().manual_seed(seed)

    results = []
    for r in rounds:
        start = time.perf_counter()
        train_s, loss, update, total = fedavg_round(global_model, client_model, opt, r["clients"], r["weights"], work, generator)
        wall_s = time.perf_counter() - start
        norm = math.sqrt(sum(float(u.square().sum()) for u in update.values())) / max(total, 1)
        results.append({"round": r["round"], "clients": len(r["clients"]), "tokens": total,
                        "wall s": wall_s, "train s": train_s, "train loss": loss, "update norm": norm})
        print(f"round {r['round']}: {len(r['clients'])} clients, {total} tokens, {wall_s:.2f} s, "
              f"loss {loss:.3f}", file=sys.stderr)

    epochs = work["epochs"]
    kept = results[1:] if len(results) > 2 else results  # round 0 is warm-up when more than 2
    print(json.dumps({
        "framework": "pytorch", "torch": torch.__version__, "threads": args.threads,
        "model": work["model"].get("name"), "epochs": epochs, "batch": work["batch"], "lr": work["lr"],
        "rounds": results,
        "warm-up rounds": len(results) - len(kept),
        "mean round s": sum(x["wall s"] for x in kept) / len(kept),
        "mean train s": sum(x["train s"] for x in kept) / len(kept),
        "tokens/s": epochs * sum(x["tokens"] for x in kept) / sum(x["wall s"] for x in kept),
    }, indent=1))


if __name__ == "__main__":
    main()
