# Bad data and bad neighbours never stop the loop (issue 10). With a bad
# outcome row, an undrainable staged row, a bad plan value and a rollout row
# locked by an open transaction all planted at once, tick() still advances
# the healthy agent and rolls back the regressed one, reports the bad plan
# as 'error' (kept in status) and the locked rollout as 'skipped' without
# waiting for it. Then the worker meets lock_timeout and statement_timeout
# errors and keeps running (same pid) until it can tick again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RolloutTap;

my $node = PostgreSQL::Test::Cluster->new('bad_neighbours');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_rollout'
rollout.database = 'postgres'
rollout.tick_interval = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');

# Five agents, each with a rollout of version 2 at 10% then 50%, baked.
for my $agent (qw(good bad locked badplan poison))
{
	setup_agent($node, $agent);
	$node->safe_psql('postgres', start_rollout_sql($agent, plan_json('1 second', 10, 50)));
	$node->safe_psql('postgres', record_outcomes_sql($agent)) unless $agent eq 'bad';
}
# The regressed candidate: every outcome of version 2 fails.
$node->safe_psql('postgres', q{
	SELECT rollout.record('bad', v, 'u' || v || '-' || i, success => v = 1,
						  at => now() - interval '1 minute')
	FROM generate_series(1, 2) v, generate_series(1, 10) i});

# The bad neighbours.
$node->safe_psql('postgres', q{
	INSERT INTO rollout.outcomes (at, agent, version, rollout_id, stage, arm, in_arm, latency_ms, metrics)
	SELECT now() - interval '1 minute', 'poison', 2, id, 1, 'candidate', true, 1e200, '{"k": 1e400}'
	FROM rollout.rollouts WHERE agent = 'poison';
	INSERT INTO rollout.outcome_staging (agent, version) VALUES ('poison', 999);
	UPDATE rollout.rollouts SET plan = plan || '{"evaluation_interval_seconds": "x"}'
	WHERE agent = 'badplan';});
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{BEGIN; SELECT rollout.pause('locked')});

# One tick: it must not wait for the locked row (statement_timeout proves it).
my $ticked = $node->safe_psql('postgres', q{
	SET statement_timeout = '20s';
	SELECT rollout.drain_outcome_staging();
	SELECT string_agg(agent || ' ' || action, ', ' ORDER BY agent) FROM rollout.tick();});
like($ticked, qr/^0\n/, 'the drain moves the undrainable row aside instead of failing');
like($ticked, qr/\bgood advance\b/, 'the healthy rollout advances');
like($ticked, qr/\bbad rollback\b/, 'the regressed rollout is rolled back');
like($ticked, qr/\bbadplan error\b/, 'the rollout with a bad plan reports an error');
like($ticked, qr/\blocked skipped\b/, 'the locked rollout is skipped, not waited for');
like($ticked, qr/\bpoison advance\b/, 'the rollout with a bad outcome row advances on its good ones');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(agent || ' ' || state || ' ' || stage, ', ' ORDER BY agent)
		FROM rollout.rollouts}),
	'bad rolled_back 1, badplan canary 1, good canary 2, locked canary 1, poison canary 2',
	'the healthy rollouts advanced, the regressed one rolled back, the others stayed');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(source || ' ' || sqlstate, ', ' ORDER BY source COLLATE "C")
		FROM rollout.outcome_rejects}),
	'outcome_staging 42704, outcomes 22003', 'the bad rows are in rollout.outcome_rejects');
like( $node->safe_psql('postgres', q{SELECT last_error FROM rollout.status WHERE agent = 'badplan'}),
	qr/evaluation_interval_seconds/, 'status shows the error of the bad plan');

# The open transaction ends; the next tick reaches the paused rollout.
$holder->query_safe('COMMIT');
is($node->safe_psql('postgres', q{SELECT state FROM rollout.rollouts WHERE agent = 'locked'}),
	'paused', 'the pause committed');

# The worker: lock_timeout errors are logged and retried, the worker lives on.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET lock_timeout = '200ms';
	ALTER SYSTEM SET rollout.tick_interval = 1;
	SELECT pg_reload_conf();});
$node->wait_for_log(qr/pg_rollout: rollout \d+ of agent "badplan": error/);
my $pid = worker_pid($node);
my $key = tick_lock_key();
my $offset = -s $node->logfile;
$holder->query_safe("SELECT pg_advisory_lock($key)");
$node->wait_for_log(qr/pg_rollout worker: tick failed; retrying/, $offset);
my $offset2 = -s $node->logfile;
$node->wait_for_log(qr/pg_rollout worker: tick failed; retrying/, $offset2);
is(worker_pid($node), $pid, 'after two lock timeouts the same worker is running');
like(slurp_file($node->logfile, $offset), qr/canceling statement due to lock timeout/,
	'the lock timeout is logged');
# statement_timeout (armed by the worker for each tick) likewise.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET lock_timeout = 0;
	ALTER SYSTEM SET statement_timeout = '300ms';
	SELECT pg_reload_conf();});
my $offset3 = -s $node->logfile;
$node->wait_for_log(qr/canceling statement due to statement timeout/, $offset3);
$node->wait_for_log(qr/pg_rollout worker: tick failed; retrying/, $offset3);
is(worker_pid($node), $pid, 'after a statement timeout the same worker is running');
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET statement_timeout;
	SELECT pg_reload_conf();});
$holder->query_safe("SELECT pg_advisory_unlock($key)");
$node->safe_psql('postgres', q{SELECT rollout.resume('locked')});
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM rollout.events e
		WHERE e.agent = 'locked' AND e.action IN ('advance', 'promote')}),
	'once the lock is free the worker ticks again and advances the formerly locked rollout');
is(worker_pid($node), $pid, 'still the same worker');
$holder->quit;

check_consistency($node, 'after the bad neighbours');
$node->stop;
done_testing();
