#!/usr/bin/env python3
"""Independent check of kbd-sim's RDP accountant for the Poisson-sampled Gaussian mechanism.

Written for kbd-sim from the formulas (Mironov, Talwar, Zhang 2019, arXiv:1908.10530; the
(epsilon, delta) conversion of Canonne, Kamath, Steinke 2020, arXiv:2004.00010, Prop. 12),
using only numpy and scipy. It does not import kbd-sim or dp-accounting.

  A_alpha = E_{z~mu0}[(mu(z)/mu0(z))^alpha],  mu0 = N(0, s^2),  mu = (1-q) N(0, s^2) + q N(1, s^2)
  RDP(alpha) = log(A_alpha) / (alpha - 1)

Three independent routes to log A_alpha:
  * "integral":  adaptive quadrature (scipy.integrate.quad) of the integrand in scaled form;
  * "binomial":  for integer alpha, the exact finite binomial sum;
  * "series":    for fractional alpha, the two series split at z0 (Sec. 3.3), both with the
                 signed generalized binomial coefficients (exact) and with their absolute values
                 (what dp_accounting sums; an upper bound).

Usage:
  python3 tools/check_rdp.py                 # the reference table the Swift tests pin
  python3 tools/check_rdp.py --compare-dp    # also against dp_accounting, if importable
  python3 tools/check_rdp.py --compare-dp --kbd-sim .build/debug/kbd-sim
                                             # and kbd-sim privacy --json, row by row
"""

import json
import math
import subprocess
import sys

import numpy as np
from scipy import integrate, special

# dp_accounting's DEFAULT_RDP_ORDERS as of google/differential-privacy b5b0286 (2026-08):
# 1.1, 1.2, ..., 10.9, then 11..63, then 128, 256, 512, 1024.
ORDERS = [1.0 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(11, 64)] + [128.0, 256.0, 512.0, 1024.0]


def log_a_integral(q, sigma, alpha):
    """log A_alpha by adaptive quadrature, the integrand scaled by its maximum."""

    def log_f(z):
        log_mu0 = -z * z / (2 * sigma**2) - math.log(sigma * math.sqrt(2 * math.pi))
        # log((1-q) + q exp((2z-1)/(2 s^2))), stably
        u = (2 * z - 1) / (2 * sigma**2)
        log_ratio = np.logaddexp(math.log1p(-q), math.log(q) + u)
        return log_mu0 + alpha * log_ratio

    zs = np.linspace(-30 * sigma, alpha + 30 * sigma, 20001)
    peak_values = [log_f(z) for z in zs]
    peak = max(peak_values)
    z_peak = zs[int(np.argmax(peak_values))]
    lo, hi = -30 * sigma - 1, alpha + 30 * sigma + 1
    points = sorted({lo + 1e-9, min(max(z_peak, lo + 1), hi - 1), hi - 1e-9})
    value, _ = integrate.quad(
        lambda z: math.exp(log_f(z) - peak), lo, hi, points=points[1:-1], limit=2000, epsabs=0, epsrel=1e-13
    )
    return peak + math.log(value)


def log_a_binomial(q, sigma, alpha):
    """log A_alpha for integer alpha: log sum_k C(a,k) q^k (1-q)^(a-k) exp((k^2-k)/(2 s^2))."""
    a = int(alpha)
    k = np.arange(a + 1, dtype=np.float64)
    log_c = special.gammaln(a + 1) - special.gammaln(k + 1) - special.gammaln(a - k + 1)
    terms = log_c + k * math.log(q) + (a - k) * math.log1p(-q) + (k * k - k) / (2 * sigma**2)
    return float(special.logsumexp(terms))


def log_a_series(q, sigma, alpha, signed, steps=1000):
    """log A_alpha for fractional alpha by the two series of Sec. 3.3, summed for `steps` terms."""
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    total = 0.0
    for k in range(steps):
        # generalized binomial coefficient C(alpha, k), with its sign
        log_abs_c = special.gammaln(alpha + 1) - special.gammaln(k + 1) - special.gammaln(alpha - k + 1)
        sign = float(special.gammasgn(alpha - k + 1)) if signed else 1.0
        j = alpha - k
        # integral over (-inf, z0] of the k-th term of the expansion in q mu1 / ((1-q) mu0)
        t0 = log_abs_c + k * math.log(q) + j * math.log1p(-q) + (k * k - k) / (2 * sigma**2)
        t0 += special.log_ndtr((z0 - k) / sigma)
        # integral over [z0, inf) of the k-th term of the expansion in (1-q) mu0 / (q mu1)
        t1 = log_abs_c + j * math.log(q) + k * math.log1p(-q) + (j * j - j) / (2 * sigma**2)
        t1 += special.log_ndtr((j - z0) / sigma)
        total += sign * (math.exp(t0) + math.exp(t1))
    return math.log(total)


def rdp(q, sigma, alpha, signed=False):
    if q == 0:
        return 0.0
    if q == 1:
        return alpha / (2 * sigma**2)
    if float(alpha).is_integer():
        return log_a_binomial(q, sigma, alpha) / (alpha - 1)
    return log_a_series(q, sigma, alpha, signed=signed) / (alpha - 1)


def epsilon(q, sigma, rounds, delta, classic=False, signed=False, orders=ORDERS):
    best, best_order = math.inf, None
    for a in orders:
        r = rounds * rdp(q, sigma, a, signed)
        if classic:
            e = r + math.log(1 / delta) / (a - 1)
        elif delta**2 + math.expm1(-r) > 0:
            e = 0.0  # delta <= sqrt(1 - exp(-KL)) and KL <= D_alpha
        else:
            e = r + math.log((a - 1) / a) - (math.log(delta) + math.log(a)) / (a - 1)
        if e < best:
            best, best_order = e, a
    return max(0.0, best), best_order


CASES = [  # (q, sigma, alpha)
    (0.01, 1.0, 2),
    (0.01, 1.0, 8),
    (0.1, 1.5, 5),
    (0.5, 2.0, 3),
    (0.2, 0.8, 4),
    (0.01, 1.0, 2.5),
    (0.1, 1.5, 3.3),
    (0.001, 1.1, 10.5),
]

TABLE = [  # (q, sigma, rounds, delta)
    (6500 / 3_000_000, 1.0, 2000, 1e-10),
    (6500 / 3_000_000, 0.8, 2000, 1e-10),
    (6500 / 3_000_000, 1.2, 2000, 1e-10),
    (6500 / 3_000_000, 1.0, 1000, 1e-10),
    (6500 / 1_500_000, 1.0, 2000, 1e-10),
    (6500 / 5_000_000, 1.0, 2000, 1e-10),
    (0.01, 1.1, 10000, 1e-5),
    (0.001, 1.0, 100000, 1e-6),
    (0.06, 1.0, 100, 1e-5),
    (1.0, 10.0, 1, 1e-5),
    (0.5, 2.0, 50, 1e-8),
]


def main():
    print("# log A_alpha: quadrature vs binomial sum (integer) / series (fractional)")
    for q, s, a in CASES:
        quad = log_a_integral(q, s, a)
        if float(a).is_integer():
            closed = log_a_binomial(q, s, a)
            print(f"q={q} sigma={s} alpha={a}: quad={quad:.15g} binomial={closed:.15g} rdp={closed / (a - 1):.17g}")
        else:
            signed = log_a_series(q, s, a, signed=True)
            unsigned = log_a_series(q, s, a, signed=False)
            print(
                f"q={q} sigma={s} alpha={a}: quad={quad:.15g} series_signed={signed:.15g} "
                f"series_abs={unsigned:.15g} rdp_abs={unsigned / (a - 1):.17g}"
            )
    print("# (epsilon, order): improved and classic conversions")
    rows = []
    for q, s, t, d in TABLE:
        e, o = epsilon(q, s, t, d)
        ec, oc = epsilon(q, s, t, d, classic=True)
        es, os_ = epsilon(q, s, t, d, signed=True)
        rows.append((q, s, t, d, e, o))
        print(
            f"q={q!r} sigma={s} T={t} delta={d}: eps={e:.17g} order={o} classic={ec:.17g} order={oc} "
            f"exact_series={es:.17g} order={os_}"
        )
    dp = None
    if "--compare-dp" in sys.argv:
        try:
            from dp_accounting import dp_event, rdp as dp_rdp
        except ImportError:
            print("dp_accounting is not importable: pip install dp-accounting in tools/.venv")
            return
        print("# against dp_accounting.rdp.RdpAccountant (default orders)")
        for q, s, t, d, e, o in rows:
            acc = dp_rdp.RdpAccountant()
            acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(s)), t)
            de, do = acc.get_epsilon_and_optimal_order(d)
            dp = dp or {}
            dp[(q, s, t, d)] = (de, do)
            print(f"q={q:.6g} sigma={s} T={t} delta={d:g}: ours={e:.12g} ({o}) dp_accounting={de:.12g} ({do}) "
                  f"rel.diff={abs(e - de) / max(de, 1e-300):.1e}")

    if "--kbd-sim" in sys.argv:
        binary = sys.argv[sys.argv.index("--kbd-sim") + 1]
        print("# kbd-sim privacy --json against this script" + (" and dp_accounting" if dp else ""))
        print("| q | sigma | T | delta | kbd-sim | order | dp_accounting | order | rel. diff | this script | rel. diff |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for q, s, t, d, e, o in rows:
            out = subprocess.run(
                [binary, "privacy", "--sampling-rate", repr(q), "--noise-multiplier", repr(s), "--rounds", str(t),
                 "--delta", repr(d), "--json"],
                check=True, capture_output=True, text=True,
            ).stdout
            k = json.loads(out)
            ke, ko = k["epsilon"], k["order"]
            de, do = dp[(q, s, t, d)] if dp else (math.nan, math.nan)
            print(
                f"| {q:.6g} | {s} | {t} | {d:g} | {ke:.12g} | {ko:g} | {de:.12g} | {do:g} | "
                f"{abs(ke - de) / de:.1e} | {e:.12g} | {abs(ke - e) / e:.1e} |"
            )


if __name__ == "__main__":
    main()
