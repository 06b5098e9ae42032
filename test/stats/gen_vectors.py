#!/usr/bin/python3
"""Writes the reference vectors of pg_rollout's statistics (test/stats/*.csv).

Run with Debian 12's interpreter, which has scipy 1.10 and statsmodels 0.13.5:

    /usr/bin/python3 test/stats/gen_vectors.py

The regression test sql/stats_vectors.sql loads the CSVs and compares every
row with the C functions (relative error <= 1e-9). Floats are written with
repr (17 significant digits); NaN and infinities in PostgreSQL's spelling;
arrays as PostgreSQL array literals.
"""
import csv
import math
import os
import sys

import numpy as np
import scipy
import statsmodels
from scipy import optimize, stats
from statsmodels.stats.proportion import (samplesize_proportions_2indep_onetail,
                                          test_proportions_2indep)

HERE = os.path.dirname(os.path.abspath(__file__))
ALTERNATIVES = ["two-sided", "less", "greater"]
# statsmodels spells the one-sided alternatives differently
SM_ALTERNATIVE = {"two-sided": "two-sided", "less": "smaller", "greater": "larger"}
rng = np.random.default_rng(20240611)


def num(v):
    """A float in PostgreSQL's float8 input syntax."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def arr(values):
    """A PostgreSQL array literal."""
    return "{" + ",".join(num(v) if isinstance(v, float) else str(v) for v in values) + "}"


def write(name, header, rows):
    path = os.path.join(HERE, name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"{name}: {len(rows)} vectors", file=sys.stderr)


def proportion_vectors():
    cases = set()
    # small and degenerate tables
    for n1, n2 in [(1, 1), (5, 7), (30, 10)]:
        for x1 in sorted({0, 1, n1 // 2, n1}):
            for x2 in sorted({0, n2 // 3, n2}):
                cases.add((x1, n1, x2, n2))
    # random tables, small to large
    for _ in range(24):
        n1 = int(np.exp(rng.uniform(np.log(10), np.log(2e6))))
        n2 = int(n1 * rng.uniform(0.3, 3)) + 1
        p1 = rng.uniform(0.001, 0.6)
        p2 = p1 + rng.uniform(-0.05, 0.05)
        p2 = min(max(p2, 0.0005), 0.999)
        cases.add((int(rng.binomial(n1, p1)), n1, int(rng.binomial(n2, p2)), n2))
    # far tails: z from 20 to 37 (p down to ~1e-300)
    for z in [20, 30, 37, 38.3, 39]:
        n = 200000
        p2 = 0.2
        se = math.sqrt(2 * p2 * (1 - p2) / n)
        cases.add((int(round((p2 + z * se) * n)), n, int(p2 * n), n))
    rows = []
    for (x1, n1, x2, n2) in sorted(cases):
        for margin in [0.0, -0.05, 0.1]:
            for method in ["wald", "agresti-caffo", "score"]:
                for alt in ALTERNATIVES:
                    with np.errstate(all="ignore"):
                        # numpy integers, so a zero proportion gives inf/nan, not an exception
                        r = test_proportions_2indep(np.int64(x1), np.int64(n1), np.int64(x2),
                                                    np.int64(n2), value=margin, method=method,
                                                    compare="diff", alternative=SM_ALTERNATIVE[alt],
                                                    correction=True)
                    rows.append([x1, n1, x2, n2, num(margin), alt, method,
                                 num(r.statistic), num(r.pvalue)])
    write("proportion.csv", ["x1", "n1", "x2", "n2", "margin", "alternative", "method",
                             "statistic", "p_value"], rows)


def sample_size_vectors():
    rows = []
    for pb in [0.01, 0.05, 0.2, 0.5, 0.9]:
        for delta in [-0.005, 0.003, 0.01, 0.05, -0.1]:
            pc = pb + delta
            if not 0 < pc < 1:
                continue
            for alpha, power in [(0.05, 0.8), (0.01, 0.95), (1e-6, 0.3)]:
                    for ratio in [1.0, 0.25, 3.0]:
                        for alt in ALTERNATIVES:
                            sm_alt = "two-sided" if alt == "two-sided" else SM_ALTERNATIVE[alt]
                            n = samplesize_proportions_2indep_onetail(
                                pc - pb, pb, power, ratio=ratio, alpha=alpha,
                                alternative=sm_alt)
                            rows.append([num(pb), num(pc), num(alpha), num(power), num(ratio),
                                         alt, num(n)])
    # equal proportions: the reference divides by zero
    with np.errstate(all="ignore"):
        n = samplesize_proportions_2indep_onetail(0.0, 0.3, 0.8, ratio=1, alpha=0.05)
    rows.append([num(0.3), num(0.3), num(0.05), num(0.8), num(1.0), "two-sided", num(n)])
    write("sample_size.csv", ["p_baseline", "p_candidate", "alpha", "power", "ratio",
                              "alternative", "n"], rows)


def welch_vectors():
    rows = []
    cases = []
    for _ in range(60):
        n1 = int(np.exp(rng.uniform(np.log(2), np.log(1e6))))
        n2 = int(np.exp(rng.uniform(np.log(2), np.log(1e6))))
        sd1 = float(np.exp(rng.uniform(np.log(0.01), np.log(100))))
        sd2 = sd1 * float(np.exp(rng.uniform(-2, 2)))
        m2 = float(rng.normal(0, 10))
        se = math.sqrt(sd1 ** 2 / n1 + sd2 ** 2 / n2)
        m1 = m2 + float(rng.normal(0, 3)) * se
        cases.append((m1, sd1, n1, m2, sd2, n2))
    # far tails (p down to 1e-300) with large and small df
    for t in [10, 25, 37]:
        cases.append((t * math.sqrt(2 / 100000), 1.0, 100000, 0.0, 1.0, 100000))
    for t in [8, 40, 300, 5000]:
        cases.append((t * math.sqrt(2 / 3), 1.0, 3, 0.0, 1.0, 3))
    cases.append((1e8 * math.sqrt(2 / 4), 1.0, 4, 0.0, 1.0, 4))
    # very large df, moderate t (where GSL's own t tail is not precise enough)
    for t in [2.5, 4.0, 6.0, 9.0]:
        cases.append((t * math.sqrt(2 / 5e7), 1.0, 50000000, 0.0, 1.0, 50000000))
    # zero variances
    cases += [(1.0, 0.0, 10, 0.5, 1.0, 20), (1.0, 0.0, 10, 0.5, 0.0, 20),
              (0.5, 0.0, 10, 0.5, 0.0, 20), (2.0, 1.5, 2, 1.0, 0.5, 2)]
    for (m1, sd1, n1, m2, sd2, n2) in cases:
        for margin in [0.0, 0.25]:
            for alt in ALTERNATIVES:
                with np.errstate(all="ignore"):
                    r = stats.ttest_ind_from_stats(m1 - margin, sd1, n1, m2, sd2, n2,
                                                   equal_var=False, alternative=alt)
                    v1, v2 = np.float64(sd1) ** 2 / n1, np.float64(sd2) ** 2 / n2
                    df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
                if math.isnan(df):
                    df = 1.0
                rows.append([num(m1), num(sd1), n1, num(m2), num(sd2), n2, num(margin), alt,
                             num(r.statistic), num(df), num(r.pvalue)])
    write("welch.csv", ["mean1", "sd1", "n1", "mean2", "sd2", "n2", "margin", "alternative",
                        "t", "df", "p_value"], rows)


def srm_vectors():
    rows = []
    cases = []
    for _ in range(80):
        k = int(rng.integers(2, 6))
        w = rng.uniform(0.5, 10, size=k)
        if rng.uniform() < 0.3:
            w = np.round(w)
        total = int(np.exp(rng.uniform(np.log(20), np.log(5e6))))
        share = w / w.sum()
        skew = share * np.exp(rng.normal(0, 0.02 if total > 1000 else 0.3, size=k))
        obs = rng.multinomial(total, skew / skew.sum())
        cases.append((list(int(o) for o in obs), [float(x) for x in w]))
    cases.append(([5000, 5000], [1.0, 1.0]))
    cases.append(([0, 100], [1.0, 1.0]))
    cases.append(([0, 0, 7], [1.0, 2.0, 3.0]))
    # far tails: chi2 up to ~1380 with 1 df (p ~ 1e-300)
    for extra in [3000, 6000, 8000, 8300]:
        n = 100000
        cases.append(([n + extra, n - extra], [1.0, 1.0]))
    cases.append(([500000, 490000, 510000, 400000], [1.0, 1.0, 1.0, 0.8]))
    for obs, w in cases:
        total = sum(obs)
        wsum = math.fsum(w) if False else sum(w)
        expected = np.array([x / wsum * total for x in w])
        r = stats.chisquare(np.array(obs), expected)
        rows.append([arr(obs), arr(w), num(r.statistic), len(obs) - 1, num(r.pvalue)])
    write("srm.csv", ["observed", "weights", "chi2", "df", "p_value"], rows)


def mann_whitney_vectors():
    rows = []
    samples = []
    # small, continuous (auto picks exact)
    for nx, ny in [(1, 1), (1, 5), (3, 4), (5, 5), (8, 8), (8, 30), (4, 12)]:
        v = rng.permutation(np.round(rng.normal(0, 1, nx + ny), 4))
        samples.append((list(v[:nx]), list(v[nx:])))
    # small with ties (auto picks asymptotic)
    for nx, ny in [(3, 4), (6, 6), (8, 10)]:
        v = rng.integers(0, 4, nx + ny).astype(float)
        samples.append((list(v[:nx]), list(v[nx:])))
    # all equal: zero variance
    samples.append(([2.0] * 5, [2.0] * 7))
    # medium, continuous and tied
    for nx, ny in [(9, 9), (20, 25), (50, 40)]:
        v = np.round(rng.normal(0, 1, nx + ny) + np.r_[np.full(nx, 0.4), np.zeros(ny)], 3)
        samples.append((list(v[:nx]), list(v[nx:])))
    for nx, ny in [(30, 30), (100, 120)]:
        v = rng.integers(0, 6, nx + ny).astype(float)
        samples.append((list(v[:nx]), list(v[nx:])))
    # large-ish with many ties (scores 0..20) and continuous latencies
    x = rng.binomial(20, 0.52, 2000).astype(float)
    y = rng.binomial(20, 0.50, 2000).astype(float)
    samples.append((list(x), list(y)))
    x = np.round(rng.lognormal(5.0, 0.5, 2000), 1)
    y = np.round(rng.lognormal(5.02, 0.5, 2100), 1)
    samples.append((list(x), list(y)))
    # far tail: complete separation, p about 1e-295
    samples.append(([float(i) for i in range(900, 1800)], [float(i) for i in range(900)]))
    sample_rows = []
    for sid, (x, y) in enumerate(samples, start=1):
        sample_rows.append([sid, arr([float(v) for v in x]), arr([float(v) for v in y])])
        big = len(x) * len(y) > 20000
        exact_ok = len(x) * len(y) <= 2500
        methods = ["auto", "asymptotic"] + (["exact"] if exact_ok else [])
        for method in methods:
            for cont in ([True] if big else [True, False]):
                for alt in ALTERNATIVES:
                    r = stats.mannwhitneyu(x, y, use_continuity=cont, alternative=alt,
                                           method=method)
                    rows.append([sid, alt, "true" if cont else "false", method,
                                 num(r.statistic), num(r.pvalue)])
    write("mann_whitney_samples.csv", ["sample", "x", "y"], sample_rows)
    write("mann_whitney.csv", ["sample", "alternative", "use_continuity", "method",
                               "u", "p_value"], rows)


def sequential_reference(est, se, n, margin, alt, alpha, tuning):
    """GrowthBook's sequential test, written from the published formulas:
    half-widths as in gbstats (s2 = se^2 N), p-values by numerically
    inverting the half-width in alpha with rho fixed (root finding)."""
    s2 = se * se * n
    a_tune = alpha if alt == "two-sided" else 2 * alpha
    rho = math.sqrt((-2 * math.log(a_tune) + math.log(-2 * math.log(a_tune) + 1)) / tuning)

    def halfwidth(a):
        if alt == "two-sided":
            return math.sqrt(s2) * math.sqrt(2 * (n * rho ** 2 + 1)
                                             * math.log(math.sqrt(n * rho ** 2 + 1) / a)
                                             / (n * rho) ** 2)
        return math.sqrt(s2 * 2 * (n * rho ** 2 + 1) / (n * rho) ** 2
                         * math.log(1 + math.sqrt(n * rho ** 2 + 1) / (2 * a)))

    h = halfwidth(alpha)
    if alt == "two-sided":
        lower, upper = est - h, est + h
        dist = abs(est - margin)
        top = math.log(math.sqrt(n * rho ** 2 + 1))  # half-width is 0 at alpha = sqrt(c+1)
    elif alt == "greater":
        lower, upper = est - h, math.inf
        dist = est - margin
        top = 50.0
    else:
        lower, upper = -math.inf, est + h
        dist = margin - est
        top = 50.0
    if dist <= 0:
        p = 1.0
    else:
        # the half-width falls as alpha grows; find the alpha where it equals dist
        f = lambda la: halfwidth(math.exp(la)) - dist
        lo = -744.0
        hi = top - 1e-12 if alt == "two-sided" else top
        if f(lo) <= 0:
            p = 0.0  # below the smallest double's reach
        elif f(hi) > 0:
            p = 1.0
        else:
            la = optimize.brentq(f, lo, hi, xtol=1e-14, rtol=8.9e-16, maxiter=500)
            p = min(1.0, math.exp(la))
    return p, lower, upper


def sequential_vectors():
    rows = []
    cases = []
    for _ in range(30):
        n = int(np.exp(rng.uniform(np.log(20), np.log(2e6))))
        se = float(np.exp(rng.uniform(np.log(1e-4), np.log(1))))
        est = float(rng.normal(0, 4)) * se
        cases.append((est, se, n))
    # strong effects: p down to ~1e-300 (two-sided: D^2 c / (2(c+1)) ~ 690)
    for d in [5, 10, 20, 30, 37]:
        cases.append((d * 0.01, 0.01, 200000))
    for est, se, n in cases:
        for margin in [0.0, -0.5 * se]:
            for alpha, tuning in [(0.05, 5000.0), (0.01, 200.0)]:
                    for alt in ALTERNATIVES:
                        p, lo, up = sequential_reference(est, se, n, margin, alt, alpha, tuning)
                        rows.append([num(est), num(se), n, num(margin), alt, num(alpha),
                                     num(tuning), num(p), num(lo), num(up)])
    write("sequential.csv", ["estimate", "std_error", "n", "margin", "alternative", "alpha",
                             "tuning", "p_value", "lower", "upper"], rows)


def event_share_reference(xc, xb, share, theta0, alt):
    """The event-share mixture through scipy's binomial pmf and logsumexp."""
    from scipy.special import logsumexp

    grid = 0.04 * (math.log(64) / 0.04) ** (np.arange(32) / 31.0)

    def q(t):
        return np.exp(t) * share / (np.exp(t) * share + 1 - share)

    def ll(t):
        return float(np.sum(stats.binom.logpmf(xc, xc + xb, q(t))))

    t0 = math.log(theta0)
    terms = []
    for d in grid:
        if alt != "less":
            terms.append(ll(t0 + d) - ll(t0))
        if alt != "greater":
            terms.append(ll(t0 - d) - ll(t0))
    log_e = float(logsumexp(terms) - math.log(len(terms)))
    p = 1.0 if log_e <= 0 else math.exp(-log_e)
    sc, sb = int(np.sum(xc)), int(np.sum(xb))
    if sc + sb == 0:
        est = math.nan
    elif sc == 0:
        est = 0.0
    elif sb == 0:
        est = math.inf
    else:
        def score(t):
            return float(np.sum(xc - (xc + xb) * q(t)))
        est = math.exp(optimize.brentq(score, -50, 50, xtol=1e-14, rtol=1e-15))
    return log_e, p, est


def event_share_vectors():
    rows = []
    cases = [([0], [0], [0.01]), ([0], [178], [0.01]), ([9], [178], [0.01]), ([3], [0], [0.05]),
             ([1, 4], [150, 700], [0.01, 0.05]), ([40, 300], [260, 320], [0.25, 0.5])]
    for _ in range(40):
        k = int(rng.integers(1, 5))
        share = np.round(rng.uniform(0.005, 0.6, k), 4)
        lam = float(np.exp(rng.uniform(np.log(0.5), np.log(3000))))
        theta = float(np.exp(rng.uniform(np.log(0.3), np.log(8))))
        xb = rng.poisson(lam * (1 - share))
        xc = rng.poisson(theta * lam * share)
        cases.append((xc.tolist(), xb.tolist(), share.tolist()))
    for xc, xb, share in cases:
        xc, xb, share = np.array(xc), np.array(xb), np.array(share, dtype=float)
        for theta0 in [1.0, 1.5, 0.8]:
            for alt in ALTERNATIVES:
                log_e, p, est = event_share_reference(xc, xb, share, theta0, alt)
                rows.append([arr(xc.tolist()), arr(xb.tolist()), arr([float(v) for v in share]),
                             num(theta0), alt, num(log_e), num(p), num(est)])
    write("event_share.csv", ["x_candidate", "x_baseline", "share", "ratio", "alternative",
                              "log_e", "p_value", "estimate"], rows)


def main():
    print(f"scipy {scipy.__version__}, statsmodels {statsmodels.__version__}", file=sys.stderr)
    if sys.argv[1:] == ["event_share"]:
        event_share_vectors()
        return
    proportion_vectors()
    sample_size_vectors()
    welch_vectors()
    srm_vectors()
    mann_whitney_vectors()
    sequential_vectors()
    event_share_vectors()


if __name__ == "__main__":
    main()
