#!/usr/bin/env bash
# Mann-Whitney timing for 10^4, 10^5 and 10^6 values per side: the array
# function and the aggregate over rows (best of 3, clock_timestamp() around
# one statement inside a PL/pgSQL function), and scipy's mannwhitneyu on the
# same data when /usr/bin/python3 has scipy. Prints figures and never fails
# for slowness. test/bench/run.sh runs it with PGHOST/PGPORT/PGDATABASE/PGUSER
# and BINDIR set.
set -uo pipefail

PSQL=("${BINDIR:+$BINDIR/}psql" -X -q -A -t -v ON_ERROR_STOP=1)
SIZES="10000 100000 1000000"
TMP=$(mktemp -d)
cleanup() {
  rm -rf "$TMP"
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS bench_stats_mw, bench_stats_rows" >/dev/null 2>&1
}
trap cleanup EXIT

# Latency-like lognormal samples with ties (one decimal); the candidate is
# 1% slower. Arrays for the function, rows for the aggregate.
if ! "${PSQL[@]}" >/dev/null <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_stats_mw, bench_stats_rows;
CREATE TABLE bench_stats_rows AS
SELECT n, c AS is_candidate,
	round(exp((CASE WHEN c THEN 5.01 ELSE 5.0 END)
		+ 0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::numeric, 1)::float8 AS value
FROM unnest('{$(echo $SIZES | tr ' ' ',')}'::int[]) n, (VALUES (true), (false)) arm(c),
	LATERAL generate_series(1, n) i;
CREATE TABLE bench_stats_mw AS
SELECT n, array_agg(value) FILTER (WHERE is_candidate) AS x,
	array_agg(value) FILTER (WHERE NOT is_candidate) AS y
FROM bench_stats_rows GROUP BY n;
CREATE INDEX ON bench_stats_rows (n);
ANALYZE bench_stats_rows;
SQL
then
  echo "bench_stats: could not create the data"
  exit 0
fi

{
  cat <<'SQL'
CREATE FUNCTION pg_temp.time_mw(p_n integer, p_agg boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	a float8[];
	b float8[];
	s timestamptz;
	best float8 := 'Infinity';
	u float8;
	p float8;
BEGIN
	SELECT x, y INTO a, b FROM bench_stats_mw WHERE n = p_n;
	FOR i IN 1..3 LOOP
		s := clock_timestamp();
		IF p_agg THEN
			SELECT (r).u, (r).p_value INTO u, p
			FROM (SELECT rollout.mann_whitney_agg(value, is_candidate) AS r
				  FROM bench_stats_rows WHERE n = p_n) q;
		ELSE
			SELECT m.u, m.p_value INTO u, p FROM rollout.mann_whitney(a, b) m;
		END IF;
		best := least(best, extract(epoch FROM clock_timestamp() - s)::float8);
	END LOOP;
	RETURN format('%9s per side: %8s ms   (U = %s, p = %s)', p_n,
				  round((best * 1000)::numeric, 1), u, to_char(p, '9.999EEEE'));
END
$$;
SQL
  echo "SELECT 'rollout.mann_whitney(x float8[], y float8[]), best of 3:';"
  for n in $SIZES; do echo "SELECT pg_temp.time_mw($n, false);"; done
  echo "SELECT 'rollout.mann_whitney_agg(value, is_candidate) over rows, best of 3:';"
  for n in $SIZES; do echo "SELECT pg_temp.time_mw($n, true);"; done
} > "$TMP/time.sql"
"${PSQL[@]}" -f "$TMP/time.sql" > "$TMP/pg.txt" 2>&1
sed 's/^ *[0-9]/  &/' "$TMP/pg.txt"

if /usr/bin/python3 -c 'import scipy' >/dev/null 2>&1; then
  for n in $SIZES; do
    "${PSQL[@]}" -c "COPY (SELECT unnest(x) FROM bench_stats_mw WHERE n = $n) TO STDOUT" > "$TMP/x$n"
    "${PSQL[@]}" -c "COPY (SELECT unnest(y) FROM bench_stats_mw WHERE n = $n) TO STDOUT" > "$TMP/y$n"
  done
  /usr/bin/python3 - "$TMP" $SIZES <<'PY'
import sys, time
import numpy as np
import scipy
from scipy import stats
d = sys.argv[1]
print(f"scipy {scipy.__version__} mannwhitneyu on the same data, best of 3:")
scipy_ms = {}
for n in sys.argv[2:]:
    x = np.loadtxt(f"{d}/x{n}")
    y = np.loadtxt(f"{d}/y{n}")
    best = float("inf")
    for _ in range(3):
        s = time.perf_counter()
        r = stats.mannwhitneyu(x, y)
        best = min(best, time.perf_counter() - s)
    print(f"  {n:>9} per side: {best * 1000:8.1f} ms   (U = {r.statistic:.1f}, p = {r.pvalue:.3e})")
    scipy_ms[n] = best * 1000
# Ratios: pg_rollout's time over scipy's on the same data (below 1: faster).
pg = {}
block = None
for line in open(f"{d}/pg.txt"):
    if line.startswith("rollout.mann_whitney("):
        block = "array"
    elif line.startswith("rollout.mann_whitney_agg"):
        block = "agg"
    elif block and "per side:" in line:
        parts = line.split()
        pg[(block, parts[0])] = float(parts[3])
print("rollout.mann_whitney / scipy mannwhitneyu, time on the same data:")
for n in sys.argv[2:]:
    a = pg.get(("array", n))
    g = pg.get(("agg", n))
    fa = f"{a / scipy_ms[n]:.2f}" if a else "n/a"
    fg = f"{g / scipy_ms[n]:.2f}" if g else "n/a"
    print(f"  {n:>9} per side: array {fa}, aggregate over rows {fg}")
PY
else
  echo "scipy not installed for /usr/bin/python3: no scipy timing"
fi
exit 0
