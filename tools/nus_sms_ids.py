#!/usr/bin/env python3
"""Stop-gap NUS SMS -> nwp-v1 token ids, for validating the neural model before the Swift
corpus pipeline (KeyboardCorpus) is wired in. Follows ../shared/docs/metrics.md: NFC,
lower-case, tokens = [letters/digits]+('[letters/digits]+)*, empty messages dropped, user
split (sorted user ids, every fifth starting at 0 evaluates), V = 10,000 from training users
(ties by UTF-8 bytes), ids: 0 <pad> 1 <unk> 2 <s> 3 </s>, words from 4 in rank order.
Prints the self-check counts so a mismatch with the contract is visible.

Usage: python3 tools/nus_sms_ids.py ZIP OUT.json
"""
import collections
import hashlib
import json
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
import zipfile

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def main():
    zpath, out = sys.argv[1], sys.argv[2]
    with zipfile.ZipFile(zpath) as z:
        name = [n for n in z.namelist() if n.endswith(".xml")][0]
        root = ET.fromstring(z.read(name))
    msgs = []
    total = 0
    for m in root.iter("message"):
        total += 1
        text = m.findtext("text") or ""
        user = m.find("source").find("userProfile").findtext("userID")
        toks = WORD.findall(unicodedata.normalize("NFC", str(text)).lower())
        if toks:
            msgs.append((user, toks))
    fp = hashlib.sha256("".join(f"{u}\t{' '.join(t)}\n" for u, t in msgs).encode()).hexdigest()
    users = sorted({u for u, _ in msgs})
    eval_users = set(users[0::5])
    train = [t for u, t in msgs if u not in eval_users]
    test = [t for u, t in msgs if u in eval_users]
    counts = collections.Counter(w for t in train for w in t)
    vocab = sorted(counts, key=lambda w: (-counts[w], w.encode()))[:10000]
    vfp = hashlib.sha256("\n".join(vocab).encode()).hexdigest()
    ids = {w: i + 4 for i, w in enumerate(vocab)}
    enc = lambda t: [ids.get(w, 1) for w in t]
    print(f"{total} messages, {len(msgs)} non-empty, {len(users)} users, {sum(len(t) for _, t in msgs)} tokens; "
          f"{len(users) - len(eval_users)} train / {len(eval_users)} eval users; "
          f"{sum(len(t) for t in test)} predictions\ncorpus sha256 {fp}\nvocab sha256 {vfp}", file=sys.stderr)
    json.dump({"vocabularySize": len(vocab) + 4, "train": [enc(t) for t in train], "test": [enc(t) for t in test]},
              open(out, "w"))


if __name__ == "__main__":
    main()
