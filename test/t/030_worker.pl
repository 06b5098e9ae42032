# The background worker on its own: it promotes a rollout whose gates pass,
# moves route()'s exposure counters into rollout.exposure_totals, survives
# a kill -9 of the postmaster in the middle of a tick without doing any
# transition twice, stops ticking when rollout.tick_interval is reloaded as
# 0, and is restarted by the postmaster after SIGTERM.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use RolloutTap;

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_rollout'
rollout.database = 'postgres'
rollout.tick_interval = 1
});
$node->start;
$node->wait_for_log(qr/pg_rollout worker started in database "postgres", tick interval 1 s/);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');

# (a) The worker promotes a rollout on its own once its outcomes pass the gate.
setup_agent($node, 'wk-a');
my $plan = plan_json('2 seconds', 50);
$node->safe_psql('postgres', start_rollout_sql('wk-a', $plan));
my $routed = $node->safe_psql('postgres', q{
	SELECT string_agg(arm || '=' || n, ' ' ORDER BY arm)
	FROM (SELECT d.arm, count(*) AS n
		  FROM generate_series(1, 40) i, rollout.route('wk-a', 'unit-' || i) d
		  GROUP BY d.arm) s});
like($routed, qr/^candidate=\d+ stable=\d+$/, 'route() serves both arms during the rollout');
$node->safe_psql('postgres', record_outcomes_sql('wk-a'));
ok( $node->poll_query_until('postgres',
		q{SELECT state FROM rollout.rollouts WHERE agent = 'wk-a'}, 'promoted'),
	'the worker promotes the rollout on its own');
is($node->safe_psql('postgres', q{SELECT version FROM rollout.get_version('wk-a')}),
	'2', 'the candidate is production');
$node->wait_for_log(qr/pg_rollout: rollout \d+ of agent "wk-a": promote/);
pass('the worker logs the promotion');
ok( $node->poll_query_until('postgres', qq{
		SELECT string_agg(t.arm || '=' || t.exposures, ' ' ORDER BY t.arm)
		FROM rollout.exposure_totals t JOIN rollout.rollouts r ON r.id = t.rollout_id
		WHERE r.agent = 'wk-a'}, $routed),
	'the worker moved the exposure counters into rollout.exposure_totals');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rollout.exposures WHERE exposures > 0}),
	'0', 'the shared-memory counters were reset by the flush');
check_consistency($node, 'after the promotion');

# (b) kill -9 of the postmaster while the worker is inside a tick. X is
# ready to advance; Y is another rollout in flight. A session holds the
# advisory lock of tick() while X is resumed, then a SHARE lock on
# rollout.events, so the worker's next tick advances X (uncommitted) and
# waits to write its event. (tick() skips a locked rollout row instead of
# waiting for it, so the row lock of earlier versions no longer blocks it.)
setup_agent($node, 'wk-x');
setup_agent($node, 'wk-y');
$node->safe_psql('postgres', 'BEGIN; ' . start_rollout_sql('wk-x', plan_json('2 seconds', 10, 50))
	  . q{ SELECT rollout.pause('wk-x'); } . record_outcomes_sql('wk-x')
	  . start_rollout_sql('wk-y', plan_json('1 hour', 10)) . ' COMMIT;');
my $key = tick_lock_key();
my $holder = $node->background_psql('postgres');
$holder->query_safe("SELECT pg_advisory_lock($key)");
$node->safe_psql('postgres', q{SELECT rollout.resume('wk-x')});
$holder->query_safe(q{BEGIN; LOCK TABLE rollout.events IN SHARE MODE});
$holder->query_safe("SELECT pg_advisory_unlock($key)");
ok( $node->poll_query_until('postgres', q{
		SELECT wait_event_type || ' ' || wait_event FROM pg_stat_activity
		WHERE backend_type = 'pg_rollout worker'}, 'Lock relation'),
	'the worker waits to write an event in the middle of a tick');
is($node->safe_psql('postgres', q{SELECT stage FROM rollout.rollouts WHERE agent = 'wk-x'}),
	'1', 'its advance of X is not committed yet');
kill9_and_restart($node, sub { $holder->quit; });
ok( $node->poll_query_until('postgres',
		q{SELECT stage FROM rollout.rollouts WHERE agent = 'wk-x'}, '2'),
	'after the crash the worker resumes and advances X');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM rollout.events e JOIN rollout.rollouts r ON r.id = e.rollout_id
		WHERE r.agent = 'wk-x' AND e.action = 'advance'}),
	'1', 'X advanced once');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(s.stage || ' ' || coalesce(s.outcome, 'open'), ', ' ORDER BY s.stage)
		FROM rollout.stages s JOIN rollout.rollouts r ON r.id = s.rollout_id
		WHERE r.agent = 'wk-x'}),
	'1 advanced, 2 open', 'X has one row per stage');
is( $node->safe_psql('postgres', q{
		SELECT r.state || ' ' || r.stage || ' ' || string_agg(e.action, ',' ORDER BY e.id)
		FROM rollout.rollouts r JOIN rollout.events e ON e.rollout_id = r.id
		WHERE r.agent = 'wk-y' GROUP BY r.state, r.stage}),
	'canary 1 start', 'Y is still in flight, untouched');
check_consistency($node, 'after kill -9');

# (c) SIGHUP: with rollout.tick_interval reloaded as 0 the worker stops
# ticking; set back to 1, it ticks again.
my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'ALTER SYSTEM SET rollout.tick_interval = 0');
$node->reload;
$node->wait_for_log(qr/pg_rollout worker: tick interval changed to 0 s \(ticks off\)/, $offset);
setup_agent($node, 'wk-z');
$node->safe_psql('postgres', 'BEGIN; ' . start_rollout_sql('wk-z', plan_json('2 seconds', 50))
	  . record_outcomes_sql('wk-z') . ' COMMIT;');
# Nothing may happen now, however long we look; three seconds are three ticks.
sleep(3);
is( $node->safe_psql('postgres', q{
		SELECT r.state || ' ' || (r.last_eval_at IS NULL)
			   || ' ' || (SELECT count(*) FROM rollout.gate_results g WHERE g.rollout_id = r.id)
		FROM rollout.rollouts r WHERE r.agent = 'wk-z'}),
	'canary true 0', 'with tick_interval 0 the worker does not tick');
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'ALTER SYSTEM SET rollout.tick_interval = 1');
$node->reload;
$node->wait_for_log(qr/pg_rollout worker: tick interval changed to 1 s/, $offset);
ok( $node->poll_query_until('postgres',
		q{SELECT state FROM rollout.rollouts WHERE agent = 'wk-z'}, 'promoted'),
	'back at 1 s the worker ticks again and promotes');

# (d) SIGTERM: the worker exits and the postmaster starts it again after
# bgw_restart_time (10 s).
my $old_pid = worker_pid($node);
isnt($old_pid, '', 'the worker runs');
$offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
$node->wait_for_log(
	qr/terminating background worker "pg_rollout worker" due to administrator command/, $offset);
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'pg_rollout worker' AND pid <> $old_pid}, '1'),
	'the postmaster restarts the worker');
$node->wait_for_log(qr/pg_rollout worker started in database "postgres", tick interval 1 s/,
	$offset);
pass('the restarted worker logs its start');
check_consistency($node, 'at the end');

$node->stop;
done_testing();
