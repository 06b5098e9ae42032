# pg_cron as the driver of tick() with the worker off
# (rollout.tick_interval = 0): a cron job advances the rollout, and the
# worker does nothing. pg_cron 1.4 schedules by the minute, so the first run
# comes within a minute of scheduling.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RolloutTap;

my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my $pkglibdir = `$pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "pg_cron is not installed ($pkglibdir/pg_cron.so)"
  unless -e "$pkglibdir/pg_cron.so";

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_rollout,pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
rollout.database = 'postgres'
rollout.tick_interval = 0
});
$node->start;
$node->wait_for_log(qr/pg_rollout worker started in database "postgres", tick interval 0 s/);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');

setup_agent($node, 'cr');
$node->safe_psql('postgres', 'BEGIN; ' . start_rollout_sql('cr', plan_json('2 seconds', 50))
	  . record_outcomes_sql('cr') . ' COMMIT;');
ok( $node->safe_psql('postgres',
		q{SELECT cron.schedule('rollout-tick', '* * * * *', 'SELECT rollout.tick()')}) > 0,
	'tick() scheduled with pg_cron');

ok( $node->poll_query_until('postgres',
		q{SELECT state FROM rollout.rollouts WHERE agent = 'cr'}, 'promoted'),
	'the cron job promotes the rollout');
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
		WHERE j.jobname = 'rollout-tick' AND d.status = 'succeeded'}),
	'cron.job_run_details shows a succeeded run');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
		WHERE j.jobname = 'rollout-tick' AND d.status = 'failed'}),
	'0', 'no run failed');
ok(!$node->log_contains(qr/pg_rollout: rollout \d+/),
	'the pg_rollout worker did nothing (no action in the log)');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_rollout worker'}),
	'1', 'the worker runs, idle');
check_consistency($node, 'after the cron ticks');

$node->stop;
done_testing();
