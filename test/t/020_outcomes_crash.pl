# kill -9 the postmaster while several clients record outcomes and a refresh
# loop folds them; after crash recovery every acknowledged (committed)
# outcome is there exactly once and the aggregates match the raw rows.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use RolloutTap;

my $clients = 3;

my $node = PostgreSQL::Test::Cluster->new('outcomes_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_rollout'
restart_after_crash = on
# No worker ticks: the rollout below is written by hand, without a plan.
rollout.tick_interval = 0
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_rollout;
SELECT rollout.create_agent('crash');
SELECT rollout.create_version('crash', 'One.', 'gpt-4o-2024-08-06');
SELECT rollout.create_version('crash', 'Two.', 'gpt-4o-2024-08-06');
INSERT INTO rollout.rollouts (agent, baseline, candidate, started_at)
VALUES ('crash', 1, 2, '2000-01-01');
-- One outcome per transaction; the notice is sent only after the commit.
CREATE PROCEDURE record_loop(c int, n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		PERFORM rollout.record('crash', 1 + i % 2, c || '-' || i, i % 5 <> 0, (i % 11) / 10.0,
							   1 + (i * 7919) % 900, (i % 37) / 1000.0,
							   metrics => jsonb_build_object('tokens', i % 300));
		COMMIT;
		RAISE NOTICE 'ack % %', c, i;
	END LOOP;
END
$$;
CREATE PROCEDURE refresh_loop() LANGUAGE plpgsql AS $$
BEGIN
	LOOP
		PERFORM rollout.refresh_aggregates();
		COMMIT;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;
});

my (@handles, @stderr);
for my $c (1 .. $clients)
{
	my ($in, $out) = ('', '');
	$stderr[$c] = '';
	push @handles,
	  IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'),
						'-c', "CALL record_loop($c, 100000000)" ],
					  '<', \$in, '>', \$out, '2>', \$stderr[$c]);
}
my ($rin, $rout, $rerr) = ('', '', '');
push @handles,
  IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'),
					'-c', 'CALL refresh_loop()' ],
				  '<', \$rin, '>', \$rout, '2>', \$rerr);

ok($node->poll_query_until('postgres',
		"SELECT count(*) >= 300 * $clients FROM rollout.outcomes"
		  . " WHERE txid < (SELECT folded_below FROM rollout.outcome_watermark)"),
	'clients recorded and the refresh loop folded while they ran');

# Every old server process is gone before the restart (RolloutTap).
kill9_and_restart($node, sub {
	for my $h (@handles)
	{
		eval { $h->finish; };
	}
});

my $total = 0;
for my $c (1 .. $clients)
{
	my $acked = 0;
	while ($stderr[$c] =~ /ack $c (\d+)/g)
	{
		$acked = $1 if $1 > $acked;
	}
	ok($acked > 0, "client $c had acknowledged outcomes");
	my $present = $node->safe_psql('postgres', qq{
		SELECT count(DISTINCT unit) FROM rollout.outcomes
		WHERE unit LIKE '$c-%' AND split_part(unit, '-', 2)::int <= $acked});
	is($present, $acked, "client $c: all $acked acknowledged outcomes survived the crash");
	$total += $acked;
}

is($node->safe_psql('postgres',
		'SELECT count(*) - count(DISTINCT unit) FROM rollout.outcomes'),
	'0', 'no outcome is stored twice');

# Fold what is left (retry while another transaction holds the horizon back).
my $folded = $node->safe_psql('postgres', q{
DO $$
BEGIN
	FOR i IN 1 .. 500 LOOP
		PERFORM rollout.refresh_aggregates();
		EXIT WHEN (SELECT sum(n) FROM rollout.outcome_windows)
				= (SELECT count(*) FROM rollout.outcomes WHERE in_arm);
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;
SELECT (SELECT sum(n) FROM rollout.outcome_windows) = (SELECT count(*) FROM rollout.outcomes WHERE in_arm);
});
is($folded, 't', 'after recovery the aggregates hold every outcome exactly once');

my $mismatch = $node->safe_psql('postgres', q{
WITH raw AS (
	SELECT arm, count(*) AS n, count(*) FILTER (WHERE success) AS n_success,
		   sum(quality) AS sq, sum(latency_ms) AS sl, sum(cost) AS sc,
		   sum((metrics->>'tokens')::float8) AS st,
		   percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
		   percentile_disc(0.5) WITHIN GROUP (ORDER BY cost) AS c50
	FROM rollout.outcomes WHERE in_arm GROUP BY arm),
agg AS (
	SELECT * FROM rollout.arm_summary((SELECT id FROM rollout.rollouts), '-infinity', 'infinity', 'tokens'))
SELECT count(*) FROM raw r FULL JOIN agg a USING (arm)
WHERE a.n IS DISTINCT FROM r.n OR a.n_success IS DISTINCT FROM r.n_success
   OR abs(a.sum_quality - r.sq) > 1e-6 OR abs(a.sum_latency - r.sl) > 1e-6 * r.sl
   OR abs(a.sum_cost - r.sc) > 1e-6 OR abs(a.metric_sum - r.st) > 1e-6
   OR abs(a.latency_p95 - r.p95) > 0.01 * r.p95 OR abs(a.cost_median - r.c50) > 0.01 * r.c50;
});
is($mismatch, '0', 'per-arm aggregates match the raw rows after recovery');

note("acknowledged outcomes before the crash: $total");
$node->stop;
done_testing();
