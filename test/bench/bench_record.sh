#!/usr/bin/env bash
# Outcomes bench (make bench runs it against a throwaway instance):
#  1. rollout.record() tps against a plain INSERT of the same row into an
#     equivalent table (same columns, partitions and indexes); goal >= 0.9;
#     record_batch() of 1 000 rows against one 1 000-row INSERT; goal >= 0.8.
#  2. time to read one hour of aggregates (rollout.arm_summary) for a
#     rollout with 10 k outcomes and one with 10 M; goal ratio <= 2.
# Prints figures; never fails for slowness.
set -uo pipefail
cd "$(dirname "$0")"
PSQL="$BINDIR/psql -X -q -v ON_ERROR_STOP=1"
PGBENCH="$BINDIR/pgbench"
SECONDS_RUN=${BENCH_SECONDS:-10}
CLIENTS=${BENCH_CLIENTS:-2}
SMALL=${BENCH_OUTCOMES_SMALL:-10000}
# 10 M outcomes are generated and folded in about a minute on the 2-core
# machine (2.3 GB), which keeps the whole bench under 10 minutes;
# BENCH_OUTCOMES_LARGE=1000000 for a quicker run.
LARGE=${BENCH_OUTCOMES_LARGE:-10000000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# tps of one pgbench run of a script file.
tps() {
  "$PGBENCH" -n -M prepared -T "$2" -c "$3" -j "$3" -f "$1" 2>/dev/null |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

$PSQL -f bench_record_setup.sql >/dev/null || { echo "set-up failed"; exit 0; }

cat > "$TMP/record.sql" <<'SQL'
\set v random(1, 2)
\set u random(1, 1000000)
\set lat random(40, 2000)
SELECT rollout.record('bench', :v, 'u' || :u, true, 0.8, :lat, 0.01);
SQL
cat > "$TMP/plain.sql" <<'SQL'
\set v random(1, 2)
\set u random(1, 1000000)
\set lat random(40, 2000)
INSERT INTO bench_plain (txid, at, agent, version, rollout_id, stage, arm, in_arm, shadow, unit,
                         success, quality, latency_ms, cost, error, safety_flag, feedback, metrics)
VALUES (txid_current(), now(), 'bench', :v, 1, 1,
        CASE WHEN :v = 2 THEN 'candidate' ELSE 'stable' END, true, false, 'u' || :u,
        true, 0.8, :lat, 0.01, false, false, NULL, '{}');
SQL

# Three alternating rounds; each side keeps its best round, which is the
# figure least disturbed by other load on a shared machine.
best_p=0; best_r=0
for round in 1 2 3; do
  p=$(tps "$TMP/plain.sql" "$SECONDS_RUN" "$CLIENTS")
  r=$(tps "$TMP/record.sql" "$SECONDS_RUN" "$CLIENTS")
  echo "round $round: plain INSERT ${p:-?} tps, rollout.record() ${r:-?} tps"
  best_p=$(awk -v a="$best_p" -v b="${p:-0}" 'BEGIN { print (b > a ? b : a) }')
  best_r=$(awk -v a="$best_r" -v b="${r:-0}" 'BEGIN { print (b > a ? b : a) }')
done
awk -v p="$best_p" -v r="$best_r" 'BEGIN { if (p > 0) printf "record() / plain INSERT (best rounds): %.2f (goal >= 0.90)\n", r / p }'

# The same with the decision_token route() returned for each arm, as
# services pass it (docs/outcomes.md): the outcome is stored under the
# decision that served it.
tok1=$($PSQL -At -c "SELECT d.decision_token FROM generate_series(1, 5000) i, rollout.route('bench', 'u' || i) d WHERE d.version = 1 LIMIT 1")
tok2=$($PSQL -At -c "SELECT d.decision_token FROM generate_series(1, 5000) i, rollout.route('bench', 'u' || i) d WHERE d.version = 2 LIMIT 1")
if [ -n "$tok1" ] && [ -n "$tok2" ]; then
  for v in 1 2; do
    cat > "$TMP/record_tok$v.sql" <<SQL
\\set u random(1, 1000000)
\\set lat random(40, 2000)
SELECT rollout.record('bench', $v, 'u' || :u, true, 0.8, :lat, 0.01, decision_token => :tok$v);
SQL
  done
  best_t=0
  for round in 1 2 3; do
    t=$("$PGBENCH" -n -M prepared -T "$SECONDS_RUN" -c "$CLIENTS" -j "$CLIENTS" -D tok1="$tok1" -D tok2="$tok2" \
        -f "$TMP/record_tok1.sql@1" -f "$TMP/record_tok2.sql@1" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    echo "round $round: rollout.record(..., decision_token) ${t:-?} tps"
    best_t=$(awk -v a="$best_t" -v b="${t:-0}" 'BEGIN { print (b > a ? b : a) }')
  done
  awk -v p="$best_p" -v r="$best_t" 'BEGIN { if (p > 0) printf "record(decision_token) / plain INSERT (best rounds): %.2f (goal >= 0.90)\n", r / p }'
else
  echo "record() with decision_token: no token (route() served no rollout)"
fi

# Batches of 1 000 rows: record_batch() against one INSERT of the same rows
# built from the same arrays.
cat > "$TMP/batch.sql" <<'SQL'
\set b random(1, 1000000)
SELECT rollout.record_batch('bench', ARRAY(SELECT 1 + i % 2 FROM generate_series(1, 1000) i),
	ARRAY(SELECT 'u' || (:b + i) FROM generate_series(1, 1000) i),
	array_fill(true, ARRAY[1000]), array_fill(0.8::float8, ARRAY[1000]),
	ARRAY(SELECT (40 + (:b + i) % 2000)::float8 FROM generate_series(1, 1000) i),
	array_fill(0.01::float8, ARRAY[1000]));
SQL
cat > "$TMP/multi.sql" <<'SQL'
\set b random(1, 1000000)
INSERT INTO bench_plain (txid, at, agent, version, rollout_id, stage, arm, in_arm, shadow, unit,
                         success, quality, latency_ms, cost, error, safety_flag, feedback, metrics)
SELECT txid_current(), now(), 'bench', b.v, 1, 1, CASE WHEN b.v = 2 THEN 'candidate' ELSE 'stable' END,
       true, false, b.u, b.s, b.q, b.l, b.c, false, false, NULL, '{}'
FROM unnest(ARRAY(SELECT 1 + i % 2 FROM generate_series(1, 1000) i),
	ARRAY(SELECT 'u' || (:b + i) FROM generate_series(1, 1000) i),
	array_fill(true, ARRAY[1000]), array_fill(0.8::float8, ARRAY[1000]),
	ARRAY(SELECT (40 + (:b + i) % 2000)::float8 FROM generate_series(1, 1000) i),
	array_fill(0.01::float8, ARRAY[1000])) AS b(v, u, s, q, l, c);
SQL
best_m=0; best_b=0
for round in 1 2 3; do
  m=$(tps "$TMP/multi.sql" "$SECONDS_RUN" "$CLIENTS")
  b=$(tps "$TMP/batch.sql" "$SECONDS_RUN" "$CLIENTS")
  echo "round $round: 1 000-row INSERT ${m:-?} tps, record_batch(1 000 rows) ${b:-?} tps"
  best_m=$(awk -v a="$best_m" -v b="${m:-0}" 'BEGIN { print (b > a ? b : a) }')
  best_b=$(awk -v a="$best_b" -v b="${b:-0}" 'BEGIN { print (b > a ? b : a) }')
done
awk -v p="$best_m" -v r="$best_b" 'BEGIN { if (p > 0) printf "record_batch(1 000) / 1 000-row INSERT (best rounds): %.2f (goal >= 0.80)\n", r / p }'
$PSQL -c "SELECT rollout.refresh_aggregates()" >/dev/null
$PSQL -At -c "SELECT 'folded ' || sum(n) || ' outcomes of the bench agent into ' || count(*) || ' windows' FROM rollout.outcome_windows WHERE rollout_id = 1"

# Read benchmark.
start=$(date +%s)
$PSQL -v small="$SMALL" -v large="$LARGE" -f bench_record_large.sql >/dev/null ||
  { echo "read set-up failed"; exit 0; }
echo "generated and folded $SMALL + $LARGE outcomes in $(( $(date +%s) - start )) s"
for r in 2 3; do
  echo "SELECT count(*) FROM rollout.arm_summary($r, rollout.window_start(now()) - interval '1 hour', rollout.window_start(now()));" > "$TMP/read$r.sql"
done
$PSQL -At -c "SELECT 'last hour: ' || string_agg(arm || ' n=' || n || ' p95=' || round(latency_p95::numeric, 1), ', ') FROM rollout.arm_summary(3, rollout.window_start(now()) - interval '1 hour', rollout.window_start(now()))"
small_tps=$(tps "$TMP/read2.sql" "$SECONDS_RUN" 1)
large_tps=$(tps "$TMP/read3.sql" "$SECONDS_RUN" 1)
echo "read one hour of aggregates: $SMALL outcomes $small_tps/s, $LARGE outcomes $large_tps/s"
awk -v s="${small_tps:-0}" -v l="${large_tps:-0}" -v ns="$SMALL" -v nl="$LARGE" \
  'BEGIN { if (l > 0) printf "read time ratio %s / %s outcomes: %.2f (goal <= 2)\n", nl, ns, s / l }'
exit 0
