#!/usr/bin/python3
"""Summarizes the simulation (test/sim/sim.py CSVs) and checks its bounds.

Usage: report.py OUT.csv CASE.csv... [--check SPEC]...

Prints one row per case (preset, requests an hour, scenario): how many runs,
the share held, sent for approval, rolled back, promoted and neither (with a
95% Wilson interval for the share stopped by any action), the stage at the
first action (and the share it served then), the median and 95th percentile time from the start of the
canary to it, and the candidate requests served before it; writes the same
rows to OUT.csv.

A check SPEC is PRESET:PER_HOUR:SCENARIO:FIGURE:OP:VALUE, for example
low:18000:aa:stopped:<=:4 (at most 4 runs stopped) or
medium:18000:severe:median_minutes:<=:45. FIGURE is a count (stopped,
held, approval, rolled_back, promoted, escaped, horizon, error,
promoted_in_time, caught_before_25) or median_minutes. The exit status is 1
when a check fails.
"""
import csv
import math
import operator
import statistics
import sys
from collections import defaultdict

OPS = {'<=': operator.le, '>=': operator.ge, '==': operator.eq}
STOPS = {'hold', 'hold_for_approval', 'rollback', 'rollback_now', 'freeze'}
# The presets' canary schedules (bake before 100%), hours: promotion is "in
# time" within this plus 25%.
SCHEDULE_HOURS = {'low': 16, 'medium': 60, 'high': 132, 'critical': 528}


def wilson(k, n, z=1.959963984540054):
    """95% Wilson score interval of k in n, in percent."""
    if n == 0:
        return (0.0, 100.0)
    p = k / n
    d = 1 + z * z / n
    c = p + z * z / (2 * n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (100 * (c - h) / d, 100 * (c + h) / d)


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float('nan')
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def summarize(rows):
    n = len(rows)
    out = defaultdict(int)
    stopped = [r for r in rows if r['outcome'] in STOPS]
    for r in rows:
        o = r['outcome']
        key = {'hold': 'held', 'freeze': 'held', 'hold_for_approval': 'approval',
               'rollback': 'rolled_back', 'rollback_now': 'rolled_back',
               'promote': 'promoted'}.get(o, o)
        out[key] += 1
    preset = rows[0]['preset']
    out['stopped'] = len(stopped)
    out['promoted_in_time'] = sum(1 for r in rows if r['outcome'] == 'promote'
                                  and float(r['seconds']) <= 1.25 * 3600 * SCHEDULE_HOURS.get(preset, 1e9))
    out['caught_before_25'] = sum(1 for r in stopped if float(r['percent']) < 25)
    mins = [float(r['seconds']) / 60 for r in stopped]
    prom = [float(r['seconds']) / 3600 for r in rows if r['outcome'] == 'promote']
    stages = defaultdict(int)
    for r in stopped:
        stages[r['stage']] += 1
    lo, hi = wilson(len(stopped), n)
    for k in ('held', 'approval', 'rolled_back', 'promoted', 'escaped', 'horizon', 'error'):
        out.setdefault(k, 0)
    return dict(out, runs=n, stopped_lo=lo, stopped_hi=hi,
                stages=' '.join('%s:%d' % kv for kv in sorted(stages.items())),
                median_minutes=statistics.median(mins) if mins else float('nan'),
                p95_minutes=quantile(mins, 0.95),
                median_requests=statistics.median([int(r['candidate_requests']) for r in stopped]) if stopped else float('nan'),
                promote_median_hours=statistics.median(prom) if prom else float('nan'),
                promote_p95_hours=quantile(prom, 0.95))


def main():
    args = sys.argv[1:]
    checks = [args[i + 1] for i, a in enumerate(args) if a == '--check']
    files = [a for i, a in enumerate(args) if a != '--check' and (i == 0 or args[i - 1] != '--check')]
    out_csv, inputs = files[0], files[1:]
    cases = defaultdict(list)
    for f in inputs:
        for r in csv.DictReader(open(f)):
            cases[(r['preset'], r['per_hour'], r['scenario'])].append(r)
    order = {'low': 0, 'medium': 1, 'high': 2, 'critical': 3}
    keys = sorted(cases, key=lambda k: (order.get(k[0], 9), -int(k[1]), k[2] != 'aa', k[2]))
    cols = ['preset', 'per_hour', 'scenario', 'runs', 'stopped', 'stopped_95ci', 'held', 'approval',
            'rolled_back', 'promoted', 'promoted_in_time', 'escaped', 'horizon', 'error',
            'stages_at_action', 'median_min', 'p95_min', 'median_cand_requests',
            'promote_median_h', 'promote_p95_h']
    table = []
    sums = {}
    for k in keys:
        s = summarize(cases[k])
        sums[k] = s
        table.append([k[0], k[1], k[2], s['runs'], s['stopped'],
                      '%.1f-%.1f%%' % (s['stopped_lo'], s['stopped_hi']), s['held'], s['approval'],
                      s['rolled_back'], s['promoted'], s['promoted_in_time'], s['escaped'],
                      s['horizon'], s['error'], s['stages'] or '-',
                      '%.0f' % s['median_minutes'], '%.0f' % s['p95_minutes'],
                      '%.0f' % s['median_requests'], '%.1f' % s['promote_median_hours'],
                      '%.1f' % s['promote_p95_hours']])
    with open(out_csv, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(table)
    widths = [max(len(str(c)), *(len(str(r[i])) for r in table)) for i, c in enumerate(cols)]
    print('  '.join(str(c).ljust(widths[i]) for i, c in enumerate(cols)))
    for r in table:
        print('  '.join(str(v).ljust(widths[i]) for i, v in enumerate(r)))
    print('(stopped = held, sent for approval or rolled back; times from the start of the canary;'
          ' promoted_in_time = within the canary schedule + 25%)')

    failed = 0
    for spec in checks:
        preset, per_hour, scenario, figure, op, value = spec.split(':')
        s = sums.get((preset, per_hour, scenario))
        got = None if s is None else s.get(figure, 0)
        if isinstance(got, float) and math.isnan(got):
            got = None
        ok = got is not None and OPS[op](got, float(value))
        print('check %s %s %s: %s %s %s (got %s)' % ('ok  ' if ok else 'FAIL', preset, scenario,
                                                      figure, op, value, got))
        failed += not ok
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
