#!/usr/bin/env python3
"""The kbd-sim neural keyboard model in PyTorch, for tools/bench_lstm.py.

Same architecture and parameter layout as Sources/LanguageModels/Neural: embedding E [V, e],
LSTM input kernel [e, G], recurrent kernel [h, G], bias [G] (CIFG gate blocks f, o, g with
i = 1 - f; LSTM blocks i, f, o, g), projection [h, p], tied output logits y @ E^T + b.
Batches are packed like kbd-sim's (messages sorted by length, step t runs only the messages
still going), so neither side computes padding. Loss: mean cross-entropy over real targets
with <pad> and <s> excluded from the softmax; SGD with global-norm clipping 5.

Usage: torch_lstm.py train CONFIG.json BATCH STEPS THREADS [BATCHES.json] | infer CONFIG.json WORDS THREADS
       (BATCHES.json: the batches lstm-bench train --export-batches wrote; STEPS is then ignored)
       torch_lstm.py check OUT/model.safetensors OUT/loss.json   (same function as kbd-sim?)
Prints one JSON line like lstm-bench.
"""
import json
import sys
import time

import torch


def message(i, vocab):
    length = 5 + (7 * i) % 21
    return [4 + (131 * i + 17 * t) % (vocab - 4) for t in range(length)]


class Model(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, e, h, p = cfg["vocabularySize"], cfg["embedding"], cfg["hidden"], cfg["projection"]
        self.cifg = cfg["cell"] == "cifg"
        blocks = 3 if self.cifg else 4
        g = blocks * h
        self.h = h
        self.embedding = torch.nn.Parameter(torch.empty(v, e).uniform_(-0.1, 0.1))
        self.wx = torch.nn.Parameter(torch.empty(e, g).uniform_(-0.1, 0.1))
        self.wh = torch.nn.Parameter(torch.empty(h, g).uniform_(-0.1, 0.1))
        self.b = torch.nn.Parameter(torch.zeros(g))
        self.wp = torch.nn.Parameter(torch.empty(h, p).uniform_(-0.1, 0.1)) if p > 0 else None
        self.out_b = torch.nn.Parameter(torch.zeros(v))
        mask = torch.zeros(v)
        mask[0] = float("-inf")
        mask[2] = float("-inf")
        self.register_buffer("exclude", mask)

    def cell(self, gates, c):
        h = self.h
        if self.cifg:
            f = torch.sigmoid(gates[:, :h])
            o = torch.sigmoid(gates[:, h:2 * h])
            g = torch.tanh(gates[:, 2 * h:])
            c = f * c + (1 - f) * g if c is not None else (1 - f) * g
        else:
            i = torch.sigmoid(gates[:, :h])
            f = torch.sigmoid(gates[:, h:2 * h])
            o = torch.sigmoid(gates[:, 2 * h:3 * h])
            g = torch.tanh(gates[:, 3 * h:])
            c = f * c + i * g if c is not None else i * g
        return o * torch.tanh(c), c

    def forward_packed(self, inputs, offsets, active):
        """inputs: packed ids [N]; step t occupies rows offsets[t]:offsets[t]+active[t]."""
        x = self.embedding[inputs]
        gx = torch.addmm(self.b, x, self.wx)
        hs = []
        h = c = None
        for t in range(len(active)):
            bt = active[t]
            g = gx[offsets[t]:offsets[t] + bt]
            if h is not None:
                g = g + h[:bt] @ self.wh
                c = c[:bt]
            h, c = self.cell(g, c)
            hs.append(h)
        hs = torch.cat(hs)
        y = hs @ self.wp if self.wp is not None else hs
        return torch.addmm(self.out_b + self.exclude, y, self.embedding.t())


def pack(batch):
    batch = sorted(batch, key=len, reverse=True)
    steps = len(batch[0]) + 1
    active = [sum(1 for m in batch if len(m) + 1 > t) for t in range(steps)]
    offsets = [0]
    for a in active:
        offsets.append(offsets[-1] + a)
    inputs = [0] * offsets[-1]
    targets = [0] * offsets[-1]
    for b, m in enumerate(batch):
        seq_in = [2] + m
        seq_out = m + [3]
        for t in range(len(m) + 1):
            inputs[offsets[t] + b] = seq_in[t]
            targets[offsets[t] + b] = seq_out[t]
    return torch.tensor(inputs), torch.tensor(targets), offsets, active


def train(cfg, batch_size, steps, repeats=3, batches_path=None):
    if batches_path:
        # The batches lstm-bench trained on (lstm-bench train ... --export-batches FILE): real
        # messages, and the vocabulary size the corpus gave the model.
        exported = json.load(open(batches_path))
        cfg = dict(cfg, vocabularySize=exported["vocabularySize"])
        raw = exported["batches"]
        steps = len(raw) - 2
    else:
        raw = [[message(s * batch_size + j, cfg["vocabularySize"]) for j in range(batch_size)]
               for s in range(steps + 2)]
    model = Model(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [pack(b) for b in raw]
    tokens = sum(len(b[1]) for b in batches[2:])

    def step(b):
        inputs, targets, offsets, active = b
        opt.zero_grad(set_to_none=True)
        logits = model.forward_packed(inputs, offsets, active)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    best = float("inf")
    for _ in range(repeats):
        for b in batches[:2]:
            step(b)
        start = time.perf_counter()
        for b in batches[2:]:
            step(b)
        best = min(best, time.perf_counter() - start)
    return tokens / best, best / steps


@torch.no_grad()
def infer(cfg, words, repeats=3):
    model = Model(cfg)
    ids = [4 + (131 * i) % (cfg["vocabularySize"] - 4) for i in range(words)]
    emb_t = model.embedding.t().contiguous()
    bias = model.out_b + model.exclude
    best = float("inf")
    for _ in range(repeats):
        h = torch.zeros(1, model.h)
        c = torch.zeros(1, model.h)
        start = time.perf_counter()
        for w in ids:
            g = torch.addmm(model.b, model.embedding[w:w + 1], model.wx)
            g = torch.addmm(g, h, model.wh)
            h, c = model.cell(g, c)
            y = h @ model.wp if model.wp is not None else h
            logits = torch.addmm(bias, y, emb_t)
            logits[0, :4] = float("-inf")
            torch.topk(logits, 3)
        best = min(best, (time.perf_counter() - start) / words)
    return best


def check(st_path, loss_path):
    """Loads a kbd-sim safetensors export into this model and compares the mean loss."""
    from safetensors.torch import load_file
    from safetensors import safe_open
    with safe_open(st_path, "pt") as f:
        cfg = json.loads(f.metadata()["kbd_sim_config"])
    t = load_file(st_path)
    model = Model(cfg)
    with torch.no_grad():
        model.embedding.copy_(t["embedding"])
        model.wx.copy_(t["lstm.input_kernel"])
        model.wh.copy_(t["lstm.recurrent_kernel"])
        model.b.copy_(t["lstm.bias"])
        if model.wp is not None:
            model.wp.copy_(t["projection.kernel"])
        model.out_b.copy_(t["output.bias"])
        ref = json.load(open(loss_path))
        inputs, targets, offsets, active = pack(ref["messages"])
        loss = torch.nn.functional.cross_entropy(model.forward_packed(inputs, offsets, active), targets).item()
    print(json.dumps({"kind": "check", "torch_mean_loss": loss, "kbd_sim_mean_loss": ref["mean_loss"],
                      "abs_diff": abs(loss - ref["mean_loss"])}))


def main():
    if sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3])
    cmd, cfg_path = sys.argv[1], sys.argv[2]
    cfg = json.load(open(cfg_path))
    if cmd == "train":
        batch, steps, threads = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        torch.set_num_threads(threads)
        tps, sps = train(cfg, batch, steps, batches_path=sys.argv[6] if len(sys.argv) > 6 else None)
        print(json.dumps({"kind": "train", "model": cfg["name"], "batch": batch, "threads": threads,
                          "tokens_per_s": tps, "s_per_step": sps, "torch": torch.__version__}))
    elif cmd == "infer":
        words, threads = int(sys.argv[3]), int(sys.argv[4])
        torch.set_num_threads(threads)
        print(json.dumps({"kind": "infer", "model": cfg["name"], "threads": threads,
                          "ms_per_word": infer(cfg, words) * 1000, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
