#!/usr/bin/python3
"""Simulates rollouts of one case on a simulated clock through the real tick().

One case is a risk preset (its plan exactly as rollout.start() takes it when
given none), a traffic rate and a scenario (an A/A rollout or one kind of
regression). The case runs RUNS rollouts side by side, one agent each, in a
database of its own. Every 5 simulated minutes it writes what the traffic of
those 5 minutes would have folded into rollout.outcome_windows (both arms,
every metric, the latency and cost sketches), then calls rollout.tick() at
the end of the slot, as the worker would. The decisions are tick()'s own;
nothing here evaluates a gate.

A run ends at its first action (hold, hold_for_approval, rollback,
rollback_now, freeze), at promotion, when a regressed candidate reaches the
25% step (it slipped through), or at the horizon. The run is then paused so
that tick() leaves it alone. The result, one line per run, goes to a CSV.

Traffic: per_hour requests an hour per agent, exactly per_hour / 12 per
slot; each goes to the candidate with probability percent / 100. Healthy
traffic (both arms unless the scenario says otherwise): success 0.90, error
1%, safety flag 0.1%, quality N(0.80, 0.15) clipped to [0, 1], latency
lognormal with median 1200 ms and p95 3000 ms, cost lognormal with median
0.003 and sigma 0.5. Each metric is drawn independently per request.

The shadow phase of a preset (medium, high) is fed with simulated shadow
pairs (similarity 0.95) spread over its duration, and tick() is called at
its end; times below are counted from the start of the canary (stage 1).
"""
import argparse
import csv
import math
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg

SLOT = timedelta(minutes=5)
LN_GAMMA = math.log((1 + 0.01) / (1 - 0.01))
LATENCY_SIGMA = math.log(3000 / 1200) / 1.6448536269514722
COST_SIGMA = 0.5

HEALTHY = dict(success=0.90, error=0.01, safety=0.001, quality=0.80,
               latency=1.0, cost=1.0)
SCENARIOS = {
    'aa': {},
    'success': dict(success=0.87),          # success 0.90 -> 0.87
    'error': dict(error=0.03),              # error 1% -> 3%
    'quality': dict(quality=0.70),          # quality mean -0.10
    'latency': dict(latency=1.3),           # p95 latency +30% (whole distribution x1.3)
    'cost': dict(cost=1.4),                 # median cost +40% (x1.4)
    'safety': dict(safety=0.005),           # safety 0.1% -> 0.5%
    'severe': dict(error=0.10),             # error 1% -> 10%
}
STOPS = ('hold', 'hold_for_approval', 'rollback', 'rollback_now', 'freeze')


def sketch_texts(values, segments, nseg):
    """DDSketch text (rollout.ddsketch input) of the values of each segment."""
    out = [None] * nseg
    if len(values) == 0:
        return out
    idx = np.ceil(np.log(values) / LN_GAMMA).astype(np.int64)
    order = np.lexsort((idx, segments))
    seg_sorted = segments[order]
    idx_sorted = idx[order]
    val_sorted = values[order]
    bounds = np.searchsorted(seg_sorted, np.arange(nseg + 1))
    for s in range(nseg):
        a, b = bounds[s], bounds[s + 1]
        if a == b:
            continue
        bins, counts = np.unique(idx_sorted[a:b], return_counts=True)
        v = val_sorted[a:b]
        out[s] = 'alpha=0.01 count=%d zero=0 min=%.17g max=%.17g sum=%.17g bins=%s' % (
            b - a, v.min(), v.max(), v.sum(),
            ','.join('%d:%d' % (i, c) for i, c in zip(bins.tolist(), counts.tolist())))
    return out


def generate(rng, arms, per_slot):
    """Window rows for one slot: arms is a list of (rollout_id, stage, arm, n, params)."""
    nseg = len(arms)
    ns = np.array([a[3] for a in arms], dtype=np.int64)
    seg = np.repeat(np.arange(nseg), ns)
    p = {k: np.array([a[4][k] for a in arms]) for k in HEALTHY}
    rows = []
    n_success = rng.binomial(ns, p['success'])
    n_error = rng.binomial(ns, p['error'])
    n_safety = rng.binomial(ns, p['safety'])
    q = np.clip(rng.normal(p['quality'][seg], 0.15), 0.0, 1.0)
    lat = 1200.0 * p['latency'][seg] * np.exp(rng.normal(0.0, LATENCY_SIGMA, len(seg)))
    cost = 0.003 * p['cost'][seg] * np.exp(rng.normal(0.0, COST_SIGMA, len(seg)))
    sq = np.bincount(seg, q, nseg)
    sqq = np.bincount(seg, q * q, nseg)
    sl = np.bincount(seg, lat, nseg)
    sll = np.bincount(seg, lat * lat, nseg)
    sc = np.bincount(seg, cost, nseg)
    scc = np.bincount(seg, cost * cost, nseg)
    lat_sk = sketch_texts(lat, seg, nseg)
    cost_sk = sketch_texts(cost, seg, nseg)
    for i, (rid, stage, arm, n, _) in enumerate(arms):
        if n == 0:
            continue
        rows.append((rid, arm, stage, int(n), int(n_success[i]), int(n), int(n_error[i]),
                     int(n_safety[i]), int(n), float(sq[i]), float(sqq[i]), int(n),
                     float(sl[i]), float(sll[i]), int(n), float(sc[i]), float(scc[i]),
                     lat_sk[i], cost_sk[i]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dsn', required=True)
    ap.add_argument('--preset', required=True)
    ap.add_argument('--scenario', required=True, choices=sorted(SCENARIOS))
    ap.add_argument('--runs', type=int, required=True)
    ap.add_argument('--per-hour', type=int, default=18000)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--horizon-factor', type=float, default=2.0,
                    help='horizon, in multiples of the nominal time to promotion (A/A) or to the 25%% step')
    ap.add_argument('--csv', required=True)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    per_slot = args.per_hour // 12
    t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    cand = dict(HEALTHY, **SCENARIOS[args.scenario])

    conn = psycopg.connect(args.dsn, autocommit=True)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_rollout")
    agents = ['sim-%04d' % i for i in range(args.runs)]
    for a in agents:
        cur.execute("SELECT rollout.create_agent(%s)", (a,))
        cur.execute("SELECT rollout.create_version(%s, 'You are a helpful agent.', 'model-2026-01-01', code_ref => 'build-1')", (a,))
        cur.execute("SELECT rollout.create_version(%s, 'You are a helpful agent.', 'model-2026-01-01', code_ref => 'build-2')", (a,))
        cur.execute("SELECT rollout.set_label(%s, 'production', 1)", (a,))
    rid = {}
    for a in agents:
        cur.execute("SELECT rollout.start(%s, 2, risk => %s, reason => 'simulation', at => %s)",
                    (a, args.preset, t0))
        rid[cur.fetchone()[0]] = a
    cur.execute("SELECT plan FROM rollout.rollouts WHERE id = %s", (min(rid),))
    plan = cur.fetchone()[0]
    steps = plan['steps']
    bake_to_25 = sum(s.get('bake_seconds', 0) for s in steps if s['percent'] < 25)
    bake_all = sum(s.get('bake_seconds', 0) for s in steps if s['percent'] < 100)
    nominal = bake_all if args.scenario == 'aa' else bake_to_25
    horizon = timedelta(seconds=args.horizon_factor * nominal)

    # The shadow phase: pairs over its duration, then one tick at its end.
    canary_t0 = t0
    if plan.get('shadow'):
        sh = plan['shadow']
        dur = timedelta(seconds=sh['duration_seconds'])
        hours = max(1, int(dur.total_seconds() // 3600))
        pairs = max(sh.get('min_samples', 0), 1) // hours + 1
        with cur.copy("COPY rollout.shadow_windows (rollout_id, window_start, stage, n, n_similarity, "
                      "sum_similarity, sumsq_similarity, n_agree_known, n_agree, n_production_latency, "
                      "sum_production_latency, n_shadow_latency, sum_shadow_latency, n_production_cost, "
                      "sum_production_cost, n_shadow_cost, sum_shadow_cost) FROM STDIN") as cp:
            for r in rid:
                for h in range(hours):
                    cp.write_row((r, t0 + timedelta(hours=h), 0, pairs, pairs, 0.95 * pairs,
                                  0.9025 * pairs, pairs, pairs, 0, 0, 0, 0, 0, 0, 0, 0))
        canary_t0 = t0 + dur
        cur.execute("SELECT rollout_id, action, detail FROM rollout.tick(%s)", (canary_t0,))
        bad = [r for r in cur.fetchall() if r[1] != 'advance']
        if bad:
            sys.exit('shadow phase did not end as expected: %r' % bad[:3])

    result = {}                 # rollout_id -> (outcome, stage, percent, seconds, candidate requests, detail)
    exposed = {r: 0 for r in rid}
    slot = 0
    while len(result) < len(rid):
        at = canary_t0 + slot * SLOT
        end = at + SLOT
        cur.execute("SELECT id, stage, percent::float8 FROM rollout.rollouts "
                    "WHERE id = ANY(%s) AND state IN ('canary', 'holding')", (list(set(rid) - set(result)),))
        live = cur.fetchall()
        if not live:
            break
        arms = []
        for r, stage, pct in live:
            nc = int(rng.binomial(per_slot, pct / 100.0))
            exposed[r] += nc
            arms.append((r, stage, 'candidate', nc, cand))
            arms.append((r, stage, 'stable', per_slot - nc, HEALTHY))
        rows = generate(rng, arms, per_slot)
        with cur.copy("COPY rollout.outcome_windows (rollout_id, window_start, arm, shadow, stage, n, "
                      "n_success, n_success_known, n_error, n_safety, n_feedback, sum_feedback, "
                      "n_quality, sum_quality, sumsq_quality, n_latency, sum_latency, sumsq_latency, "
                      "n_cost, sum_cost, sumsq_cost, latency_sketch, cost_sketch) FROM STDIN") as cp:
            for row in rows:
                cp.write_row((row[0], at, row[1], False, row[2], row[3], row[4], row[5], row[6],
                              row[7], 0, 0.0) + row[8:])
        cur.execute("SELECT rollout_id, action, detail FROM rollout.tick(%s)", (end,))
        ticks = cur.fetchall()
        cur.execute("SELECT id, stage, percent::float8, state FROM rollout.rollouts WHERE id = ANY(%s)",
                    ([r for r, _, _ in live],))
        now = {r: (st, p, s) for r, st, p, s in cur.fetchall()}
        secs = (end - canary_t0).total_seconds()
        before = {r: (st, p) for r, st, p in live}
        for r, action, detail in ticks:
            if r not in rid or r in result:
                continue
            # the stage and share the action was taken at
            st, p = before[r] if action in STOPS else now[r][:2]
            if action in STOPS or action == 'error':
                result[r] = (action, st, p, secs, exposed[r], detail)
            elif action == 'promote':
                result[r] = ('promote', st, p, secs, exposed[r], detail)
            elif args.scenario != 'aa' and p >= 25:
                result[r] = ('escaped', st, p, secs, exposed[r], 'reached %g%%' % p)
        for r, _, _ in live:
            if r not in result and end - canary_t0 >= horizon:
                st, p, _ = now[r]
                result[r] = ('horizon', st, p, secs, exposed[r], 'still at %g%%' % p)
        for r, (st, p, state) in now.items():
            if r in result and state in ('canary', 'holding', 'awaiting_approval'):
                cur.execute("SELECT rollout.pause(%s, 'simulation: run over', %s)", (rid[r], end))
        slot += 1
        if slot % 48 == 0:
            cur.execute("VACUUM ANALYZE rollout.rollouts, rollout.gate_tallies, rollout.outcome_windows")

    with open(args.csv, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['preset', 'per_hour', 'scenario', 'rollout_id', 'outcome', 'stage', 'percent',
                    'seconds', 'candidate_requests', 'detail'])
        for r in sorted(rid):
            o = result.get(r, ('horizon', None, None, None, exposed[r], ''))
            w.writerow([args.preset, args.per_hour, args.scenario, r] + list(o))


if __name__ == '__main__':
    main()
