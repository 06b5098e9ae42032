# Backups: pg_dump of a database with live rollouts, restored into a fresh
# cluster with the library preloaded (docs/security.md, "Backup and
# restore"), gives back the same state and the same routing decisions.
# Also: NOTIFY rollout names the events row it announces.
use strict;
use warnings;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old = PostgreSQL::Test::Cluster->new('dump_source');
$old->init;
# No worker ticks: the state must stay still between the hash and the dump.
$old->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'\nrollout.tick_interval = 0");
$old->start;

$old->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	CREATE ROLE svc_support LOGIN IN ROLE rollout_service;
	SELECT rollout.create_agent('live-bot', 'running rollout', service_roles => ARRAY['svc_support']);
	SELECT rollout.create_version('live-bot', 'One.', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('live-bot', 'Two.', 'gpt-4o-2024-08-06', params => '{"temperature": 0.2}');
	SELECT rollout.set_label('live-bot', 'production', 1);
	SELECT rollout.set_flag('live-bot', 'db_write', 12.5, 'kept by the dump');
	SELECT rollout.create_agent('done-bot', 'finished rollout');
	SELECT rollout.create_version('done-bot', 'A.', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('done-bot', 'B.', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('done-bot', 'production', 1);
	SELECT rollout.start('done-bot', 2, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}]}');
	SELECT rollout.promote('done-bot', true, 'looks good');
	UPDATE rollout.plan_presets SET description = 'edited by the DBA',
		plan = plan || '{"stable_period": "6 hours"}' WHERE risk = 'medium';
	INSERT INTO rollout.plan_presets (risk, plan, description)
		VALUES ('custom', '{"steps": [{"percent": 50, "bake": "2 hours"}, {"percent": 100}]}', 'ours');
	INSERT INTO rollout.quality_scales VALUES ('live-bot', 1, 5);
	UPDATE rollout.outcome_settings SET retention = '45 days';
	SELECT rollout.start('live-bot', 2, '{"steps": [{"percent": 30, "bake": "1 hour"}, {"percent": 100}],
		"gates": [{"name": "success", "metric": "success", "comparison": "rate", "margin": 0.1,
				   "test": "hard_limit", "min_samples": 5, "window": "1 hour", "action": "hold"}]}',
		at => rollout.window_start(now()) - interval '10 minutes');
	SELECT count(*) FROM rollout.maintain_outcomes();
});
# Outcomes from the allowed service, folded, a tick for gate results, and
# some rows recorded after the last fold.
$old->safe_psql('postgres', q{
	SET ROLE svc_support;
	SELECT rollout.record('live-bot', v, 'u' || i, success => i % 5 <> 0, quality => 3,
						  latency_ms => 10 + i, at => now() - interval '1 minute')
		FROM generate_series(1, 2) v, generate_series(1, 30) i;
	RESET ROLE;
	SELECT rollout.refresh_aggregates();
	SELECT count(*) FROM rollout.tick();
	SET ROLE svc_support;
	SELECT rollout.record('live-bot', 2, 'late-' || i, success => true, at => now() - interval '1 minute')
		FROM generate_series(1, 5) i;
});

# NOTIFY names the event it announces.
my $notify = $old->safe_psql('postgres', q{
	LISTEN rollout;
	SELECT rollout.pause('live-bot', 'checking the dashboards');
	SELECT rollout.resume('live-bot');
});
my @ids = $notify =~ /"event_id":\s*(\d+)/g;
is(scalar(@ids), 2, 'each NOTIFY payload carries an event_id');
is( $old->safe_psql('postgres',
		"SELECT string_agg(action, ',' ORDER BY id) FROM rollout.events WHERE id IN ("
		  . join(',', @ids, 0) . ')'),
	'pause,resume',
	'the event_id of each payload names its events row');

# Row count and content hash of every table of schema rollout (daily
# partitions included, read through their parents). The helper is dumped
# and restored with the rest. Built-in risk tiers are the installed
# release's, not the dump's: their install time is not compared.
$old->safe_psql('postgres', q{
	CREATE FUNCTION public.table_hash(t regclass) RETURNS text
	LANGUAGE plpgsql AS $$
	DECLARE h text;
	BEGIN
		EXECUTE format('SELECT count(*) || '' '' || coalesce(md5(string_agg(r, E''\n'' ORDER BY r)), ''-'')
			FROM (SELECT (to_jsonb(x) - CASE WHEN to_jsonb(x)->>''builtin'' = ''true''
										  THEN ''updated_at'' ELSE '''' END)::text AS r
				  FROM %s x) s', t)
			INTO h;
		RETURN h;
	END $$;
});
my $state_sql = q{
	SELECT string_agg(c.oid::regclass::text || ' ' || public.table_hash(c.oid), E'\n' ORDER BY c.oid::regclass::text)
	FROM pg_class c
	WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition};
my $routes_sql = q{SELECT md5(string_agg(d.version || ' ' || d.arm || ' ' || coalesce(d.rollout_id::text, '-') || ' ' || d.flags::text, ',' ORDER BY i))
	FROM generate_series(1, 10000) i, rollout.route('live-bot', 'unit-' || i) d};
my $state_before = $old->safe_psql('postgres', $state_sql);
my $routes_before = $old->safe_psql('postgres', $routes_sql);
my $unfolded_before = $old->safe_psql('postgres',
	'SELECT count(*) FROM rollout.outcomes WHERE in_arm')
  - $old->safe_psql('postgres', 'SELECT sum(n) FROM rollout.outcome_windows');

my $dir = tempdir(CLEANUP => 1);
$old->command_ok([ 'pg_dump', '-d', $old->connstr('postgres'), '-f', "$dir/dump.sql" ],
	'pg_dump of a database with live rollouts');
$old->stop;

my $new = PostgreSQL::Test::Cluster->new('dump_target');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'\nrollout.tick_interval = 0");
$new->start;
# Roles are cluster-wide (pg_dumpall --roles-only); the extension's own are
# created by CREATE EXTENSION.
$new->safe_psql('postgres', 'CREATE ROLE svc_support LOGIN');
$new->safe_psql('postgres', 'CREATE DATABASE restored');
{
	local $ENV{PGOPTIONS} = '-c session_replication_role=replica';
	$new->command_ok(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $new->connstr('restored'),
		  '-f', "$dir/dump.sql" ],
		'the dump restores (session_replication_role = replica)');
}

$new->safe_psql('postgres', 'GRANT rollout_service TO svc_support');
is($new->safe_psql('restored', $state_sql), $state_before,
	'every table has the same rows (count and content hash per table)');
is($new->safe_psql('restored', $routes_sql), $routes_before,
	'route() gives the same decisions for 10 000 units (standalone flags included)');
is( $new->safe_psql('restored',
		q{SELECT string_agg(risk || ' ' || builtin || ' ' || coalesce(description, ''), ', ' ORDER BY risk)
		  FROM rollout.plan_presets WHERE NOT builtin OR risk = 'low'}),
	'custom false ours, low true ' . $new->safe_psql('restored',
		q{SELECT description FROM rollout.plan_presets WHERE risk = 'low'})
	  . ', medium false edited by the DBA',
	'the edited tier and the custom one come back, built-in ones are not duplicated');

# Transaction ids do not carry over: finish_restore() renumbers them, then
# folding neither counts a restored row twice nor skips a new one: every
# outcome in an arm is in the window aggregates exactly once.
my $folded_sql = q{SELECT (SELECT sum(n) FROM rollout.outcome_windows) || ' of '
	|| (SELECT count(*) FROM rollout.outcomes WHERE in_arm)};
is($unfolded_before, '5', 'five outcomes were not folded yet when the dump was taken');
$new->safe_psql('restored', 'SELECT rollout.finish_restore()');
$new->safe_psql('restored', 'SELECT rollout.refresh_aggregates()');
is($new->safe_psql('restored', $folded_sql), '65 of 65',
	'after the restore, each outcome is folded once');
$new->safe_psql('restored', q{
	SET ROLE svc_support;
	SELECT rollout.record('live-bot', 1, 'new', success => true, at => now() - interval '1 minute');
	RESET ROLE;
	SELECT rollout.refresh_aggregates();
});
is($new->safe_psql('restored', $folded_sql), '66 of 66',
	'a new outcome is folded after the restore');
is($new->safe_psql('restored', q{SELECT count(*) FROM rollout.events WHERE action = 'finish_restore'}),
	'1', 'finish_restore() writes an event');

$new->stop;
done_testing();
