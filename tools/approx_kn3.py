#!/usr/bin/env python3
"""Yardstick only: an interpolated Kneser-Ney 3-gram (D = 0.75) top-k accuracy on the ids of
tools/nus_sms_ids.py, used to tune the neural baseline before the Swift KN3 (NGram/) lands.
The figure to compare against is the integrator's KN3. Usage: python3 tools/approx_kn3.py out/nus-ids.json"""
import sys
import json, collections
d = json.load(open(sys.argv[1]))
V = d['vocabularySize']
tri = collections.Counter(); bi = collections.Counter(); 
for m in d['train']:
    s = [2, 2] + m + [3]
    for i in range(2, len(s)):
        tri[(s[i-2], s[i-1], s[i])] += 1
        bi[(s[i-1], s[i])] += 1
cont_uni = collections.Counter(w for (a, w) in bi)  # N1+(. w)
cont_bi = collections.Counter((b, w) for (a, b, w) in tri)  # N1+(. b w)
total_cont = sum(cont_uni.values())
ctx2 = collections.defaultdict(collections.Counter)
for (a, b, w), n in tri.items(): ctx2[(a, b)][w] = n
ctx1c = collections.defaultdict(collections.Counter)
for (b, w), n in cont_bi.items(): ctx1c[b][w] = n
D = 0.75
words = [w for w in range(4, V)]
import numpy as np
puni = np.zeros(V)
for w, n in cont_uni.items(): puni[w] = n / total_cont
def dist(a, b):
    p = puni.copy()
    c1 = ctx1c.get(b)
    if c1:
        tot = sum(c1.values()); lam = D * len(c1) / tot
        p = lam * p
        for w, n in c1.items(): p[w] += max(n - D, 0) / tot
    c2 = ctx2.get((a, b))
    if c2:
        tot = sum(c2.values()); lam = D * len(c2) / tot
        p = lam * p
        for w, n in c2.items(): p[w] += max(n - D, 0) / tot
    return p
h1 = h3 = n = 0; cache = {}
for m in d['test']:
    s = [2, 2] + m
    for i in range(2, len(s)):
        key = (s[i-2], s[i-1])
        if key not in cache:
            p = dist(*key)[4:]
            top = np.lexsort((np.arange(len(p)), -p))[:3] + 4
            cache[key] = list(top)
        t = cache[key]; w = s[i]; n += 1
        if w != 1:
            h1 += t[0] == w; h3 += w in t
print("approx KN3 acc@1", h1 / n, "acc@3", h3 / n)
