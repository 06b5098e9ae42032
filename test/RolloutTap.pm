# Helpers shared by the worker TAP tests (test/t/03*.pl): agents, rollouts
# that tick() can move on real time, and the consistency checks.
package RolloutTap;

use strict;
use warnings;
use Exporter 'import';
use Test::More;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Utils;

our @EXPORT = qw(tick_lock_key setup_agent plan_json start_rollout_sql
  record_outcomes_sql check_consistency worker_pid kill9_and_restart);

# The advisory lock tick() takes (src/sql/62_tick.sql).
sub tick_lock_key { return '7286523461853490001'; }

# An agent with versions 1 (production) and 2.
sub setup_agent
{
	my ($node, $agent) = @_;
	$node->safe_psql('postgres', qq{
		SELECT rollout.create_agent('$agent');
		SELECT rollout.create_version('$agent', 'One.', 'gpt-4o-2024-08-06');
		SELECT rollout.create_version('$agent', 'Two.', 'gpt-4o-2024-08-06');
		SELECT rollout.set_label('$agent', 'production', 1);
	});
	return;
}

# A canary plan through the given percents (then 100), each step baking
# $bake, evaluated every second, with one success-rate gate that passes on
# a handful of equal outcomes.
sub plan_json
{
	my ($bake, @percents) = @_;
	my $steps = join(', ',
		(map { qq{{"percent": $_, "bake": "$bake"}} } @percents),
		'{"percent": 100}');
	return qq{{"steps": [$steps], "evaluation_interval": "1 second",
		"gates": [{"name": "success", "metric": "success", "comparison": "rate",
				   "margin": 0.1, "test": "hard_limit", "min_samples": 5,
				   "window": "1 hour", "action": "rollback"}]}};
}

# SQL that starts a rollout of version 2. Gates read whole 5-minute
# aggregation windows that start inside the stage, so the stage starts on
# a window boundary ten minutes ago: outcomes recorded a minute ago count
# at once, and a bake of a few seconds is already over.
sub start_rollout_sql
{
	my ($agent, $plan) = @_;
	return qq{SELECT rollout.start('$agent', 2, '$plan'::jsonb,
		at => rollout.window_start(now()) - interval '10 minutes');};
}

# SQL that records ten equal outcomes per arm a minute ago.
sub record_outcomes_sql
{
	my ($agent) = @_;
	return qq{SELECT rollout.record('$agent', v, 'u' || v || '-' || i, success => true,
		at => now() - interval '1 minute')
		FROM generate_series(1, 2) v, generate_series(1, 10) i;};
}

# Every rollout's stage rows and events agree with its state, and no
# transition was recorded twice.
sub check_consistency
{
	my ($node, $label) = @_;
	is( $node->safe_psql(
			'postgres', q{
		SELECT string_agg(r.id || ' ' || r.state, ', ' ORDER BY r.id)
		FROM rollout.rollouts r
		WHERE (rollout.is_active_state(r.state)
			   AND ((SELECT count(*) FROM rollout.stages s
					 WHERE s.rollout_id = r.id AND s.ended_at IS NULL) <> 1
					OR NOT EXISTS (SELECT 1 FROM rollout.stages s
								   WHERE s.rollout_id = r.id AND s.stage = r.stage
									 AND s.ended_at IS NULL)))
		   OR (NOT rollout.is_active_state(r.state)
			   AND EXISTS (SELECT 1 FROM rollout.stages s
						   WHERE s.rollout_id = r.id AND s.ended_at IS NULL))
		   OR (SELECT e.new->>'state' FROM rollout.events e
			   WHERE e.rollout_id = r.id AND e.new ? 'state'
			   ORDER BY e.id DESC LIMIT 1) IS DISTINCT FROM r.state
		   OR (SELECT count(*) FROM rollout.stages s WHERE s.rollout_id = r.id)
			  <> 1 + (SELECT count(*) FROM rollout.events e
					  WHERE e.rollout_id = r.id AND e.action = 'advance')}),
		'',
		"$label: every rollout's stages and events agree with its state");
	is( $node->safe_psql(
			'postgres', q{
		SELECT string_agg(format('%s %s stage %s x%s', rollout_id, action, stage, n), ', ')
		FROM (SELECT e.rollout_id, e.action, e.new->>'stage' AS stage, count(*) AS n
			  FROM rollout.events e
			  WHERE e.action IN ('start', 'advance', 'promote', 'promote_manual',
								 'rollback', 'rollback_now')
			  GROUP BY 1, 2, 3 HAVING count(*) > 1) d}),
		'',
		"$label: no transition recorded twice");
	return;
}

# The pid of the pg_rollout worker, or '' when none runs.
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT coalesce(min(pid)::text, '') FROM pg_stat_activity
		  WHERE backend_type = 'pg_rollout worker'});
}

# Whether a process is gone. A zombie not yet reaped still counts as there:
# the new postmaster's lock-file check (kill 0) would see it too.
sub process_gone
{
	my ($pid) = @_;
	return !kill(0, $pid);
}

# kill -9 of the postmaster, then a restart that cannot race the old server:
# the pids of every server process (backends, auxiliary processes, workers and
# the postmaster) are read first, $after_kill (optional) runs once the
# postmaster is killed (to finish clients), and the node starts again only
# when every one of those processes has exited, so the lock file and the
# shared memory are free. Every kill -9 of the TAP tests goes through here.
sub kill9_and_restart
{
	my ($node, $after_kill) = @_;
	my @pids = split /\n/, $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()
		  UNION ALL
		  SELECT pg_catalog.split_part(pg_catalog.pg_read_file('postmaster.pid'), E'\n', 1)::int});
	$node->kill9;
	$after_kill->() if $after_kill;
	foreach my $pid (@pids)
	{
		my $tries = 0;
		while (!process_gone($pid)
			   && $tries++ < 10 * $PostgreSQL::Test::Utils::timeout_default)
		{
			usleep(100_000);
		}
		die "server process $pid did not exit after kill -9" unless process_gone($pid);
	}
	# A process forked just before the kill (an autovacuum worker) may still
	# hold the shared memory for a moment: the start is retried, never raced.
	for my $attempt (1 .. 30)
	{
		return if $node->start(fail_ok => 1);
		# A failed start leaves the old pid recorded; forget it to try again.
		$node->{_pid} = undef;
		sleep(1);
	}
	die "the node did not restart after kill -9";
}

1;
