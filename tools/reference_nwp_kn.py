#!/usr/bin/env python3
"""Independent reference implementation of next-word prediction with an
interpolated modified Kneser-Ney n-gram model (Chen & Goodman 1998, KenLM lmplz
conventions), scored under the `nwp-v1` metric contract (docs/README.md).

Purpose: cross-check the Swift implementation's acc@1 / acc@3 / acc@1-iv / ppl.
Correctness over speed: for every distinct evaluation context the full
probability vector over the vocabulary words, <unk> and </s> is computed with numpy.

Usage:
    python3 tools/reference_nwp_kn.py [--zip PATH] [--vocab 10000]
                                      [--orders 1,2,3,4,5] [--split users|per-user]

Model conventions (followed exactly):
  * Training message = <s> w1 .. wn </s> (one <s>); tokens outside the V-word
    vocabulary -> <unk>. An n-gram exists only if it fits inside the padded message.
  * Highest order N uses raw counts. Orders n < N use adjusted counts
    a(g) = #distinct x with x.g observed (x may be <s>), except n-grams starting
    with <s>, which keep their raw count. <s> is never a unigram / target.
  * Per-order discounts from count-of-counts t1..t4 of that order's (adjusted)
    counts: Y = t1/(t1+2 t2), D1 = 1-2Y t2/t1, D2 = 2-3Y t3/t2, D3+ = 3-4Y t4/t3.
  * p(w|h) = max(a(hw)-D(a(hw)),0)/S(h) + gamma(h) p(w|h'),
    gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / S(h), S(h) = sum_x a(hx);
    unseen context h: p(w|h) = p(w|h').
  * Unigram: p(w) = max(a(w)-D(a(w)),0)/S + gamma0 / (V+2)   (V words, <unk>, </s>).
"""
import argparse
import hashlib
import math
import os
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict

import numpy as np
import regex

# The NUS SMS Corpus release, from its authors (National University of Singapore); pass --zip
# or set NUS_SMS_ZIP.
DEFAULT_ZIP = os.environ.get("NUS_SMS_ZIP")
TOKEN_RE = regex.compile(r"[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*")


# --------------------------------------------------------------------------- data
def read_corpus(path):
    """Returns (n_read, list of (user, tokens)) for non-empty messages in corpus order."""
    zf = zipfile.ZipFile(path)
    names = [n for n in zf.namelist() if not n.endswith("/")]
    assert len(names) == 1, names
    root = ET.fromstring(zf.read(names[0]))
    n_read = 0
    msgs = []
    for m in root.iter("message"):
        n_read += 1
        te = m.find("text")
        ue = m.find("source/userProfile/userID")
        t = (te.text if te is not None else None) or ""
        u = (ue.text if ue is not None else None) or ""
        toks = TOKEN_RE.findall(unicodedata.normalize("NFC", t).lower())
        if toks:
            msgs.append((u, toks))
    return n_read, msgs


def split_messages(msgs, mode):
    if mode == "users":
        users = sorted(set(u for u, _ in msgs))
        ev = set(users[0::5])
        train = [t for u, t in msgs if u not in ev]
        test = [t for u, t in msgs if u in ev]
        info = f"{len(users) - len(ev)} training users, {len(ev)} evaluation users"
    elif mode == "per-user":
        by_user = defaultdict(list)
        for u, t in msgs:
            by_user[u].append(t)
        n_train = {u: (len(v) * 8) // 10 for u, v in by_user.items()}
        seen = Counter()
        train, test = [], []
        for u, t in msgs:
            (train if seen[u] < n_train[u] else test).append(t)
            seen[u] += 1
        info = f"{len(by_user)} users, per-user 80/20 (floor) split"
    else:
        raise ValueError(mode)
    return train, test, info


def build_vocab(train, V):
    c = Counter(w for toks in train for w in toks)
    ranked = sorted(c.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8")))
    return [w for w, _ in ranked[:V]]


# --------------------------------------------------------------------------- model
class KNModel:
    """Interpolated modified Kneser-Ney of order N over symbol ids
    0..V-1 (vocabulary words by rank), UNK=V, EOS=V+1, BOS=V+2."""

    def __init__(self, train_ids, V, N, raw_counts, adj_counts):
        self.V, self.N = V, N
        self.UNK, self.EOS, self.BOS = V, V + 1, V + 2
        self.nsym = V + 2  # distribution support: V words, <unk>, </s>
        self.discounts = {}
        # level n (1..N): counts used at that order
        self.ctx = {}  # n>=2: dict h(tuple len n-1) -> (S, gamma, ids array, disc-numerators array)
        for n in range(1, N + 1):
            counts = raw_counts[n] if n == N else adj_counts[n]
            D = self._discounts(counts, n)
            self.discounts[n] = D
            if n == 1:
                a = np.zeros(self.nsym, dtype=np.float64)
                for (w,), c in counts.items():
                    a[w] = c
                S = a.sum()
                disc = np.where(a >= 3, D[3], np.where(a == 2, D[2], np.where(a == 1, D[1], 0.0)))
                n1 = np.count_nonzero(a == 1)
                n2 = np.count_nonzero(a == 2)
                n3 = np.count_nonzero(a >= 3)
                gamma0 = (D[1] * n1 + D[2] * n2 + D[3] * n3) / S
                self.unigram = np.maximum(a - disc, 0.0) / S + gamma0 / self.nsym
                self.gamma0 = gamma0
            else:
                grouped = defaultdict(list)
                for g, c in counts.items():
                    grouped[g[:-1]].append((g[-1], c))
                table = {}
                for h, lst in grouped.items():
                    ids = np.fromiter((w for w, _ in lst), dtype=np.int64, count=len(lst))
                    cs = np.fromiter((c for _, c in lst), dtype=np.float64, count=len(lst))
                    S = cs.sum()
                    d = np.where(cs >= 3, D[3], np.where(cs == 2, D[2], D[1]))
                    n1 = int(np.count_nonzero(cs == 1))
                    n2 = int(np.count_nonzero(cs == 2))
                    n3 = int(np.count_nonzero(cs >= 3))
                    gamma = (D[1] * n1 + D[2] * n2 + D[3] * n3) / S
                    table[h] = (gamma, ids, np.maximum(cs - d, 0.0) / S)
                self.ctx[n] = table

    @staticmethod
    def _discounts(counts, n):
        t = Counter()
        for c in counts.values():
            if c <= 4:
                t[c] += 1
        t1, t2, t3, t4 = t[1], t[2], t[3], t[4]
        tt = {1: t1, 2: t2, 3: t3, 4: t4}
        Y = t1 / (t1 + 2 * t2) if t1 + 2 * t2 > 0 else 0.0
        D = {"t": (t1, t2, t3, t4)}
        for k in (1, 2, 3):
            if tt[k] == 0:
                # Degenerate (e.g. order 1 with raw counts and a V-word vocabulary whose
                # rarest word occurs twice: t1 = 0, so Y = 0). No n-gram has count k
                # (or D_k only matters for counts that do not occur), so the term
                # (k+1) Y t_{k+1}/t_k is taken as 0 (it is 0 whenever Y = 0).
                print(f"# warning: order {n}: t{k} = 0 (t = {D['t']}); using D{k} = {k} - 0",
                      file=sys.stderr)
                D[k] = float(k)
            else:
                D[k] = k - (k + 1) * Y * tt[k + 1] / tt[k]
        return D

    def prob_vector(self, ctx):
        """Full distribution over 0..V+1 given context tuple (len <= N-1)."""
        vec = self.unigram.copy()
        L = len(ctx)
        for j in range(1, L + 1):
            h = ctx[L - j:]
            ent = self.ctx[j + 1].get(h)
            if ent is None:
                continue  # unseen context: p(w|h) = p(w|h')
            gamma, ids, num = ent
            vec *= gamma
            vec[ids] += num
        return vec


def count_ngrams(train_ids, N, BOS, EOS):
    raw = {n: Counter() for n in range(1, N + 2)}
    for ids in train_ids:
        seq = (BOS,) + tuple(ids) + (EOS,)
        L = len(seq)
        for n in range(1, N + 2):
            c = raw[n]
            for i in range(0, L - n + 1):
                g = seq[i:i + n]
                if n == 1 and g[0] == BOS:
                    continue  # <s> is never a unigram
                c[g] += 1
    # adjusted counts for orders 1..N (derived from order n+1 raw counts)
    adj = {}
    for n in range(1, N + 1):
        a = Counter()
        for g in raw[n + 1]:
            a[g[1:]] += 1  # one per distinct left extension x
        for g, c in raw[n].items():
            if g[0] == BOS:
                a[g] = c
        # every non-<s>-initial n-gram has a left extension
        assert len(a) == len(raw[n]), (n, len(a), len(raw[n]))
        adj[n] = a
    return raw, adj


# --------------------------------------------------------------------------- eval
def evaluate(model, test_ids, V):
    N = model.N
    groups = defaultdict(list)
    for ids in test_ids:
        hist = (model.BOS,) + tuple(ids)
        for i, w in enumerate(ids):
            ctx = hist[max(0, i + 1 - (N - 1)):i + 1] if N > 1 else ()
            groups[ctx].append(w)
    n_pred = n_iv = hit1 = hit3 = hit1_iv = 0
    nll = 0.0
    max_norm_err = 0.0
    for ctx, targets in groups.items():
        vec = model.prob_vector(ctx)
        max_norm_err = max(max_norm_err, abs(vec.sum() - 1.0))
        s = vec[:V]
        # top-3 by score desc, exact ties by vocabulary rank (index) asc
        part = np.partition(s, V - 3)[V - 3:]
        thr = part.min()
        cand = np.flatnonzero(s >= thr)
        order = np.lexsort((cand, -s[cand]))
        top = cand[order[:3]]
        t1 = int(top[0])
        t3 = set(int(x) for x in top)
        for w in targets:
            n_pred += 1
            p = vec[w]  # w == UNK for OOV target
            nll -= math.log(p)
            if w < V:
                n_iv += 1
                if w == t1:
                    hit1 += 1
                    hit1_iv += 1
                if w in t3:
                    hit3 += 1
    return dict(pred=n_pred, iv=n_iv, acc1=hit1 / n_pred, acc3=hit3 / n_pred,
                acc1iv=hit1_iv / n_iv if n_iv else float("nan"),
                ppl=math.exp(nll / n_pred), contexts=len(groups), norm_err=max_norm_err)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zip", default=DEFAULT_ZIP, required=DEFAULT_ZIP is None,
                    help="smsCorpus_en_xml_2015.03.09_all.zip (default: $NUS_SMS_ZIP)")
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--orders", default="1,2,3,4,5")
    ap.add_argument("--split", default="users", choices=["users", "per-user"])
    args = ap.parse_args()
    orders = [int(x) for x in args.orders.split(",") if x.strip()]
    t0 = time.time()

    n_read, msgs = read_corpus(args.zip)
    n_tok = sum(len(t) for _, t in msgs)
    fp = hashlib.sha256()
    for u, t in msgs:
        fp.update(f"{u}\t{' '.join(t)}\n".encode("utf-8"))
    print(f"# {n_read} messages read; {n_read - len(msgs)} empty; {len(msgs)} non-empty "
          f"from {len(set(u for u, _ in msgs))} users; {n_tok} tokens", flush=True)
    print(f"# corpus fingerprint {fp.hexdigest()}")

    train, test, info = split_messages(msgs, args.split)
    vocab = build_vocab(train, args.vocab)
    V = len(vocab)
    print(f"# split={args.split}: {info}; {len(train)} train / {len(test)} eval messages")
    print(f"# vocab V={V} fingerprint "
          f"{hashlib.sha256(chr(10).join(vocab).encode('utf-8')).hexdigest()}")

    idx = {w: i for i, w in enumerate(vocab)}
    UNK, EOS, BOS = V, V + 1, V + 2
    train_ids = [[idx.get(w, UNK) for w in t] for t in train]
    test_ids = [[idx.get(w, UNK) for w in t] for t in test]

    Nmax = max(orders)
    raw, adj = count_ngrams(train_ids, Nmax, BOS, EOS)
    print(f"# counted n-grams up to order {Nmax + 1} in {time.time() - t0:.1f}s")

    print(f"{'order':>5} {'predictions':>11} {'in-vocab':>9} {'acc@1':>7} {'acc@3':>7} "
          f"{'acc@1-iv':>8} {'ppl':>10}", flush=True)
    rows = []
    for N in orders:
        t1 = time.time()
        model = KNModel(train_ids, V, N, raw, adj)
        r = evaluate(model, test_ids, V)
        rows.append((N, r))
        label = f"{N}" + (" (unigram baseline)" if N == 1 else "")
        print(f"{N:>5} {r['pred']:>11} {r['iv']:>9} {r['acc1']:.4f}  {r['acc3']:.4f}  "
              f"{r['acc1iv']:.4f}   {r['ppl']:10.4f}", flush=True)
        disc = "; ".join(f"n={n}: D1={d[1]:.4f} D2={d[2]:.4f} D3+={d[3]:.4f} t={d['t']}"
                         for n, d in model.discounts.items())
        print(f"#   order {label}: {r['contexts']} distinct contexts, "
              f"max |sum p - 1| = {r['norm_err']:.2e}, {time.time() - t1:.1f}s; {disc}",
              file=sys.stderr, flush=True)
    print(f"# total wall time {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
