#!/usr/bin/env python3
"""Checks `kbd-sim privacy epsilon` (the PLD and tree accountants) against Google's
dp_accounting and closed forms.

    tools/.venv/bin/python tools/check_pld.py .build/release/kbd-sim            # the whole grid
    tools/.venv/bin/python tools/check_pld.py .build/release/kbd-sim --quick    # a few rows

The grid: Poisson sampling q in {1e-4, 1e-3, 1e-2, 0.1, 1}, sigma in {0.5, 1, 2, 5, 10},
T in {1, 10, 100, 1000, 10000}, delta in {1e-10, 1e-8, 1e-5}. Each row runs
`kbd-sim privacy epsilon --json` and, when dp_accounting is importable,
`dp_accounting.pld.PLDAccountant()` with `PoissonSampledDpEvent(q, GaussianDpEvent(sigma))`
composed T times (interval 1e-4, as kbd-sim's default). Rows whose RDP epsilon is above
100 ("astronomically large": no schedule anyone would run) or whose epsilon is below 1e-3
(~0, where a relative error says nothing) are skipped and counted. For q = 1 the script
also solves the Gaussian mechanism's closed form (Balle and Wang 2018) with scipy.

Then a few cohorts drawn without replacement (replace-one: dp_accounting's Poisson PLD with
sigma/2 at q = M/N is the same dominating pair), and the tree-aggregation case of the
Gboard DP-FTRL paper (sigma 7, 2,000 rounds, separation 313, 6 participations, delta 1e-10:
rho 0.81, epsilon 8.90).

Prints each row, the largest relative difference, and the longest kbd-sim call at 10,000
rounds (wall time of the whole process).
"""

import argparse
import json
import math
import subprocess
import sys
import time

import numpy as np
from scipy import optimize, stats

try:
    import dp_accounting
except ImportError:  # the dp_accounting column is then left out
    dp_accounting = None

RATES = [1e-4, 1e-3, 1e-2, 0.1, 1.0]
SIGMAS = [0.5, 1.0, 2.0, 5.0, 10.0]
ROUNDS = [1, 10, 100, 1000, 10000]
DELTAS = [1e-10, 1e-8, 1e-5]
LARGE = 100.0
ZERO = 1e-3


def kbd_sim(binary, args):
    start = time.perf_counter()
    out = subprocess.run(
        [binary, "privacy", "epsilon", *args, "--json"], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out), time.perf_counter() - start


def gaussian_exact_epsilon(mu, delta):
    """Smallest epsilon with Phi(-e/mu + mu/2) - e^e Phi(-e/mu - mu/2) <= delta."""

    def excess(e):
        return stats.norm.cdf(-e / mu + mu / 2) - math.exp(e) * stats.norm.cdf(-e / mu - mu / 2) - delta

    if excess(0) <= 0:
        return 0.0
    high = 1.0
    while excess(high) > 0:
        high *= 2
    return optimize.brentq(excess, 0, high, xtol=1e-14, rtol=1e-15)


def dp_epsilons(q, sigma, rounds, deltas):
    accountant = dp_accounting.pld.PLDAccountant()
    accountant.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), rounds)
    return [accountant.get_epsilon(d) for d in deltas]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kbd_sim", help="path to the kbd-sim binary, e.g. .build/release/kbd-sim")
    parser.add_argument("--quick", action="store_true", help="a few rows instead of the whole grid")
    args = parser.parse_args()

    rates, sigmas, rounds_list = (RATES, SIGMAS, ROUNDS)
    if args.quick:
        rates, sigmas, rounds_list = ([1e-3, 1.0], [1.0, 5.0], [10, 1000])
    have_dp = dp_accounting is not None
    if have_dp:
        from importlib import metadata

        print(f"dp_accounting {metadata.version('dp-accounting')}")
    else:
        print("dp_accounting not installed: its column is left out")
    print("| q | sigma | T | delta | kbd-sim | epsilon-rdp | dp_accounting | rel. diff | closed form | kbd-sim s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    worst = 0.0
    worst_row = None
    compared = 0
    skipped_large = 0
    skipped_zero = 0
    slowest_10k = 0.0
    not_below_closed_form = 0
    for q in rates:
        for sigma in sigmas:
            for rounds in rounds_list:
                ours = []
                for delta in DELTAS:
                    sampling = ["--sampling", "none"] if q == 1 else ["--rate", repr(q)]
                    doc, seconds = kbd_sim(
                        args.kbd_sim, [*sampling, "--noise", repr(sigma), "--rounds", str(rounds), "--delta", repr(delta)]
                    )
                    ours.append((doc, seconds))
                    if rounds == 10000:
                        slowest_10k = max(slowest_10k, seconds)
                if all(doc["epsilon-rdp"] > LARGE for doc, _ in ours):
                    skipped_large += len(DELTAS)
                    continue
                reference = dp_epsilons(q, sigma, rounds, DELTAS) if have_dp else [None] * len(DELTAS)
                for delta, (doc, seconds), ref in zip(DELTAS, ours, reference):
                    eps = doc["epsilon"]
                    if doc["epsilon-rdp"] > LARGE:
                        skipped_large += 1
                        continue
                    if eps < ZERO or (ref is not None and ref < ZERO):
                        skipped_zero += 1
                        continue
                    closed = ""
                    if q == 1:
                        exact = gaussian_exact_epsilon(math.sqrt(rounds) / sigma, delta)
                        closed = f"{exact:.9g}"
                        if eps < exact - 1e-9:
                            not_below_closed_form += 1
                    rel = ""
                    if ref is not None:
                        r = abs(eps - ref) / max(abs(ref), 1e-300)
                        rel = f"{r:.1e}"
                        compared += 1
                        if r > worst:
                            worst, worst_row = r, (q, sigma, rounds, delta, eps, ref)
                    ref_text = f"{ref:.9g}" if ref is not None else ""
                    print(
                        f"| {q:g} | {sigma:g} | {rounds} | {delta:g} | {eps:.9g} | {doc['epsilon-rdp']:.6g} | "
                        f"{ref_text} | {rel} | {closed} | {seconds:.2f} |",
                        flush=True,
                    )
    print()
    print(f"compared {compared} rows; skipped {skipped_large} with RDP epsilon > {LARGE:g} "
          f"and {skipped_zero} with epsilon < {ZERO:g}")
    if worst_row:
        q, sigma, rounds, delta, eps, ref = worst_row
        print(f"max relative difference to dp_accounting: {worst:.2e} "
              f"(q={q:g}, sigma={sigma:g}, T={rounds}, delta={delta:g}: {eps:.9g} vs {ref:.9g})")
    print(f"rows below the closed form (q = 1): {not_below_closed_form}")
    print(f"longest kbd-sim call at T = 10000: {slowest_10k:.2f} s")

    print()
    print("Without replacement (replace-one; dp_accounting: Poisson PLD at q = M/N with sigma/2):")
    for cohort, population, sigma, rounds, delta in [
        (6500, 3_000_000, 1.0, 2000, 1e-10),
        (1000, 100_000, 2.0, 1000, 1e-8),
        (100, 1000, 5.0, 100, 1e-5),
    ]:
        doc, _ = kbd_sim(
            args.kbd_sim,
            ["--sampling", "without-replacement", "--cohort", str(cohort), "--population", str(population),
             "--noise", repr(sigma), "--rounds", str(rounds), "--delta", repr(delta)],
        )
        line = f"  {cohort}/{population} sigma={sigma:g} T={rounds} delta={delta:g}: kbd-sim {doc['epsilon']:.9g}"
        if have_dp:
            ref = dp_epsilons(cohort / population, sigma / 2, rounds, [delta])[0]
            line += f", dp_accounting {ref:.9g}, rel. diff {abs(doc['epsilon'] - ref) / ref:.1e}"
        print(line)

    print()
    doc, seconds = kbd_sim(
        args.kbd_sim,
        ["--mechanism", "tree", "--noise", "7", "--rounds", "2000", "--min-separation", "313",
         "--max-participations", "6", "--delta", "1e-10"],
    )
    line = (f"Tree (sigma 7, 2000 rounds, separation 313, 6 participations, delta 1e-10): "
            f"sensitivity^2 {doc['sensitivity squared']}, rho {doc['rho']:.4f} (published 0.81), "
            f"epsilon {doc['epsilon']:.4f} (published 8.90, {abs(doc['epsilon'] - 8.90) / 8.90:.2%} off), "
            f"zCDP conversion {doc['epsilon-zcdp']:.4f}, {seconds:.2f} s")
    print(line)
    if have_dp:
        rdp = dp_accounting.rdp.RdpAccountant()
        rdp.compose(dp_accounting.GaussianDpEvent(1 / math.sqrt(2 * doc["rho"])))
        print(f"  dp_accounting RdpAccountant, Gaussian of the same rho: {rdp.get_epsilon(1e-10):.9g}")
    return 0 if worst < 0.01 and not_below_closed_form == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
