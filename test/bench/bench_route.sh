#!/usr/bin/env bash
# Throughput of rollout.route() against two baselines measured in the same
# run: SELECT 1 (the floor of a round trip) and a PL/pgSQL router that reads
# the state tables per request (test/bench/router_plpgsql.sql). Two more
# figures explain the first ratio: route() without a session (no pin to
# sign) and a prepared SELECT of the same 18-column decision row as
# constants, the most any function returning that row could reach.
# Environment (from test/bench/run.sh): PGHOST PGPORT PGDATABASE PGUSER
# BINDIR BENCH_SECONDS BENCH_CLIENTS. Prints figures; never fails for slowness.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BINDIR=${BINDIR:-$(dirname "$(command -v psql)")}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CLIENTS=${BENCH_CLIENTS:-2}
PSQL=("$BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
work=$(mktemp -d /tmp/bench_route.XXXXXX)
trap 'rm -rf "$work"' EXIT

"${PSQL[@]}" >/dev/null <<'SQL' || { echo "bench_route: setup failed"; exit 0; }
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_rollout;
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM rollout.agents WHERE name = 'bench-route') THEN
		PERFORM rollout.create_agent('bench-route');
		PERFORM rollout.create_version('bench-route', repeat('You are a helpful agent. ', 40), 'gpt-4o-2024-08-06',
									   tools => '[{"name": "search"}]', params => '{"temperature": 0.2}');
		PERFORM rollout.create_version('bench-route', repeat('You are a concise agent. ', 40), 'gpt-4o-2024-08-06',
									   tools => '[{"name": "search"}]', params => '{"temperature": 0.1}');
		PERFORM rollout.set_label('bench-route', 'production', 1);
		INSERT INTO rollout.rollouts (agent, baseline, candidate, percent, salt, judge_rate)
		VALUES ('bench-route', 1, 2, 5, 12345, 0.1);
	END IF;
END
$$;
SQL
"${PSQL[@]}" -f "$here/router_plpgsql.sql" >/dev/null || { echo "bench_route: baseline setup failed"; exit 0; }

printf 'SELECT 1;\n' > "$work/select1.sql"
printf '\\set u random(1, 1000000)\nSELECT * FROM rollout.route('"'"'bench-route'"'"', '"'"'u'"'"' || :u, '"'"'s'"'"' || :u);\n' > "$work/route.sql"
printf '\\set u random(1, 1000000)\nSELECT * FROM rollout.route('"'"'bench-route'"'"', '"'"'u'"'"' || :u);\n' > "$work/route_nopin.sql"
printf '\\set u random(1, 1000000)\nSELECT version, arm FROM rollout.route('"'"'bench-route'"'"', '"'"'u'"'"' || :u, '"'"'s'"'"' || :u);\n' > "$work/route2.sql"
"${PSQL[@]}" -At >"$work/const.sql" <<'SQL' || { echo "bench_route: constant row setup failed"; exit 0; }
SELECT format('SELECT %L::text, %s::integer, %L::text, %L::text, %L::text, %L::text, %L::jsonb, %L::jsonb, '
              '%L::jsonb, %L::text, %s::bigint, %s::integer, NULL::integer, %L::boolean, %L::text, %L::text, '
              '%L::jsonb, %L::boolean;',
              d.agent, d.version, d.fingerprint, d.model, d.system_prompt, d.template, d.few_shot, d.tools,
              d.params, d.arm, d.rollout_id, d.stage, d.judge_sample, d.pin, d.reason, d.flags, d.write_intercept)
  FROM rollout.route('bench-route', 'u1', 's1') d;
SQL
printf '\\set u random(1, 1000000)\nSELECT * FROM bench_baseline.route('"'"'bench-route'"'"', '"'"'u'"'"' || :u);\n' > "$work/plpgsql.sql"

# Runs one pgbench script and prints its tps (0 when pgbench failed).
tps() {
  "$BINDIR/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" -f "$1" 2>"$work/err" \
    | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' | head -n1 | grep . || echo 0
}

t_select=$(tps "$work/select1.sql")
t_route=$(tps "$work/route.sql")
t_route2=$(tps "$work/route2.sql")
t_plpgsql=$(tps "$work/plpgsql.sql")
t_nopin=$(tps "$work/route_nopin.sql")
t_const=$(tps "$work/const.sql")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "bench_route: ${CLIENTS} clients, ${SECONDS_PER_RUN} s per run, canary 5% with pins"
row() { printf '  %-22s %10.0f tps%s\n' "$1" "$2" "${3:+   ($3)}"; }
row 'SELECT 1' "$t_select"
row 'rollout.route()' "$t_route" 'full row'
row 'route(), two columns' "$t_route2" 'version, arm'
row 'PL/pgSQL router' "$t_plpgsql"
row 'route(), no session' "$t_nopin" 'no pin to sign'
row 'constant decision row' "$t_const" '18 columns, no function'
echo "  route (full row) / SELECT 1    = $(ratio "$t_route" "$t_select")"
echo "  route (two columns) / SELECT 1 = $(ratio "$t_route2" "$t_select")"
echo "  route / PL/pgSQL router = $(ratio "$t_route" "$t_plpgsql")"
echo "  route without session / SELECT 1 = $(ratio "$t_nopin" "$t_select")"
echo "  constant decision row / SELECT 1 = $(ratio "$t_const" "$t_select")   (ceiling for any route())"

# In-server: the same number of calls of each router in one statement, so
# the round trip is out of the figure; an empty loop of the same shape is
# subtracted. CPU per call, route() against the PL/pgSQL router.
LOOP=${BENCH_ROUTE_LOOP:-1000000}
"${PSQL[@]}" -At <<SQL || echo "bench_route: in-server loop failed"
CREATE FUNCTION pg_temp.loop_ms(p_what text, p_n integer) RETURNS float8
LANGUAGE plpgsql AS \$\$
DECLARE
	s timestamptz := clock_timestamp();
	c bigint;
BEGIN
	IF p_what = 'empty' THEN
		SELECT count(x) INTO c FROM generate_series(1, p_n) g, LATERAL (SELECT 'u' || g AS x OFFSET 0) u;
	ELSIF p_what = 'route' THEN
		SELECT count(r.version) INTO c FROM generate_series(1, p_n) g,
			LATERAL rollout.route('bench-route', 'u' || g) r;
	ELSE
		SELECT count(r.version) INTO c FROM generate_series(1, p_n) g,
			LATERAL bench_baseline.route('bench-route', 'u' || g) r;
	END IF;
	RETURN extract(epoch FROM clock_timestamp() - s) * 1000;
END
\$\$;
SELECT pg_temp.loop_ms('route', 1000) \\g /dev/null
SELECT '  ' || format('in-server, %s calls each: empty loop %s ms, route() %s ms (%s us/call), PL/pgSQL router %s ms (%s us/call)',
			  $LOOP, round(e::numeric), round(r::numeric), round(((r - e) * 1000 / $LOOP)::numeric, 2),
			  round(p::numeric), round(((p - e) * 1000 / $LOOP)::numeric, 2))
	   || E'\n  route / PL/pgSQL router, CPU per call in-server = '
	   || round(((r - e) / nullif(p - e, 0))::numeric, 3)
FROM (SELECT pg_temp.loop_ms('empty', $LOOP) e, pg_temp.loop_ms('route', $LOOP) r,
			 pg_temp.loop_ms('plpgsql', $LOOP) p) t;
SQL
exit 0
