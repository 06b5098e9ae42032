# route() on a hot standby: the cache follows the primary's rollback as soon
# as the standby has replayed it; pins issued by the primary verify there;
# and route() works (without exposure counters) when the library is not
# preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
# No worker ticks: the rollout below is written by hand, and a tick would
# end it (it has no plan) while the test reads it.
$primary->append_conf('postgresql.conf', "rollout.tick_interval = 0");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_agent('sb');
	SELECT rollout.create_version('sb', 'one', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('sb', 'two', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('sb', 'production', 1);
	INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt)
		VALUES (7, 'sb', 1, 2, 100, 5);
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# One long-lived standby session whose cache is loaded before the rollback.
my $session = $standby->background_psql('postgres');
is($session->query_safe(q{SELECT version || ' ' || reason FROM rollout.route('sb', 'u1')}),
	'2 canary 100%', 'standby serves the candidate during the rollout');
my $pin = $primary->safe_psql('postgres', q{SELECT pin FROM rollout.route('sb', 'u1', 'sess-1')});
like($pin, qr/^1\.7\.2\.\d+\.[0-9a-f]{32}$/, 'primary issues a pin');
is($standby->safe_psql('postgres',
		qq{SELECT reason FROM rollout.route('sb', 'u9', 'sess-1', pin => '$pin')}),
	'pinned', 'standby accepts the pin the primary issued');

$primary->safe_psql('postgres', q{
	UPDATE rollout.rollouts SET state = 'rolled_back', ended_at = now(),
		drain_until = now() + interval '1 hour' WHERE id = 7;
});
$primary->wait_for_catchup($standby);
is($session->query_safe(q{SELECT version || ' ' || reason FROM rollout.route('sb', 'u1')}),
	'1 no rollout', 'the same standby session sees the rollback after replay');
is($session->query_safe(
		qq{SELECT version || ' ' || reason FROM rollout.route('sb', 'u1', 'sess-1', pin => '$pin')}),
	'2 pinned (draining after rollback)', 'a pinned session drains on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) > 0 FROM rollout.exposures}),
	't', 'the standby counts exposures in its own shared memory');
$session->quit;

# Without preloading: route() works and simply does not count.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_agent('np');
	SELECT rollout.create_version('np', 'one', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('np', 'two', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('np', 'production', 1);
	INSERT INTO rollout.rollouts (agent, baseline, candidate, percent) VALUES ('np', 1, 2, 100);
});
is($plain->safe_psql('postgres', q{SELECT version || ' ' || arm FROM rollout.route('np', 'u1')}),
	'2 candidate', 'route() works without shared_preload_libraries');
is($plain->safe_psql('postgres', q{SELECT count(*) FROM rollout.exposures}),
	'0', 'no exposure counters without shared_preload_libraries');

$standby->stop;
$primary->stop;
$plain->stop;
done_testing();
