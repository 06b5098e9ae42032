# A standby runs no pg_rollout worker (it starts only once recovery has
# finished), so it never acts; once the standby is promoted, its worker
# starts and takes over the rollout the old primary left in flight.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RolloutTap;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_rollout'
rollout.database = 'postgres'
rollout.tick_interval = 1
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');
setup_agent($primary, 'sb');
# In flight: its gate has no outcomes yet, so it waits, extends its bake
# for the samples and then holds until they come (canary or holding).
$primary->safe_psql('postgres', start_rollout_sql('sb', plan_json('2 seconds', 50)));
ok( $primary->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM rollout.gate_results g JOIN rollout.rollouts r ON r.id = g.rollout_id
		WHERE r.agent = 'sb'}),
	"the primary's worker evaluates the rollout");

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres', 'SHOW rollout.tick_interval'), '1s',
	'the standby has the worker configured');
is( $standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_rollout worker'}),
	'0', 'no pg_rollout worker runs on the standby');
is( $standby->safe_psql('postgres',
		q{SELECT CASE WHEN state IN ('canary', 'holding') THEN 'in flight' ELSE state END
		  FROM rollout.rollouts WHERE agent = 'sb'}),
	'in flight', 'the standby sees the rollout in flight');

# The primary goes away with the rollout in flight.
$primary->stop;
ok(!$standby->log_contains(qr/pg_rollout worker started/),
	'the standby never started the worker during recovery');
ok(!$standby->log_contains(qr/pg_rollout: rollout \d+/), 'the standby never acted');

$standby->promote;
ok( $standby->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_rollout worker'}, '1'),
	'once promoted, the former standby runs the worker');
$standby->wait_for_log(qr/pg_rollout worker started in database "postgres", tick interval 1 s/);
pass('the worker logs its start after the promotion');

# Outcomes arrive on the new primary: its worker promotes the rollout.
$standby->safe_psql('postgres', record_outcomes_sql('sb'));
ok( $standby->poll_query_until('postgres',
		q{SELECT state FROM rollout.rollouts WHERE agent = 'sb'}, 'promoted'),
	"the new primary's worker takes over and promotes the rollout");
$standby->wait_for_log(qr/pg_rollout: rollout \d+ of agent "sb": promote/);
pass("the new primary's worker logs the promotion");
is($standby->safe_psql('postgres', q{SELECT version FROM rollout.get_version('sb')}),
	'2', 'the candidate is production');
check_consistency($standby, 'after the takeover');

$standby->stop;
done_testing();
