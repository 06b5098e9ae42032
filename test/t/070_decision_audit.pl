# Audit of outcome attribution under flips (issue 12), in the style of the
# load test: many clients route a request, wait 0-400 ms (the service's
# work), then record its outcome, while an operator flips the agent's
# rollout meanwhile (start at 10 %, promote to stage 2 at 50 %, roll back,
# start again ...). Each outcome carries, in its metrics, the rollout, stage
# and arm route() gave it; an outcome is misattributed when it is stored
# under another rollout, stage or arm. With the decision token there must be
# none, whatever the timing (the assertion does not depend on it); the same
# run without the token is reported for comparison.
#
# Size (environment): AUDIT_CLIENTS (default 8), AUDIT_FLIPS (default 24),
# AUDIT_FLIP_MS (pause between flips, default 60). The reference run of
# issue 12: AUDIT_CLIENTS=30 AUDIT_FLIPS=120 (docs/outcomes.md).
use strict;
use warnings;

use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $clients = $ENV{AUDIT_CLIENTS} || 8;
my $flips = $ENV{AUDIT_FLIPS} || 24;
my $flip_ms = $ENV{AUDIT_FLIP_MS} || 60;
my $cycles = int(($flips + 2) / 3);

my $node = PostgreSQL::Test::Cluster->new('decision_audit');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_rollout'
max_connections = @{[ $clients + 20 ]}
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	CREATE ROLE audit_svc LOGIN IN ROLE rollout_service;
	CREATE ROLE audit_ops LOGIN IN ROLE rollout_operator;
	GRANT rollout_reader TO audit_ops;
	SELECT rollout.create_agent(a) FROM unnest(ARRAY['with_token', 'by_time']) a;
	SELECT rollout.create_version(a, 'p' || i, 'gpt-4o-2024-08-06')
		FROM unnest(ARRAY['with_token', 'by_time']) a, generate_series(1, 2) i;
	SELECT rollout.set_label(a, 'production', 1) FROM unnest(ARRAY['with_token', 'by_time']) a;
});

my $dir = tempdir(CLEANUP => 1);

# One request of a client: route, work, record. The served decision goes
# into metrics (rollout 0 = none, cand 1 = candidate arm).
sub client_script
{
	my ($agent, $token) = @_;
	my $tok = $token ? 'nullif(:tok::text, \'\')' : 'NULL::text';
	my $file = "$dir/client_$agent.sql";
	open(my $fh, '>', $file) or die;
	print $fh qq{\\set u random(1, 1000000)
SELECT d.version AS v, coalesce(d.decision_token, '') AS tok, coalesce(d.rollout_id, 0) AS rid,
       coalesce(d.stage, 0) AS st, (d.arm = 'candidate')::int AS cand
  FROM rollout.route('$agent', 'u' || :u::text) d
\\gset
\\set delay random(0, 400)
\\sleep :delay ms
SELECT rollout.record('$agent', :v::integer, 'u' || :u::text, success => true,
       metrics => jsonb_build_object('rid', :rid::bigint, 'st', :st::integer, 'cand', :cand::integer),
       decision_token => $tok);
};
	close($fh);
	return $file;
}

# The operator: start at 10 %, promote to 50 %, roll back; three flips a cycle.
sub flip_script
{
	my ($agent) = @_;
	my $file = "$dir/flip_$agent.sql";
	open(my $fh, '>', $file) or die;
	print $fh qq{SELECT rollout.start('$agent', 2, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 50, "bake": "1 hour"}, {"percent": 100}]}')
\\sleep $flip_ms ms
SELECT rollout.promote('$agent', reason => 'flip')
\\sleep $flip_ms ms
SELECT rollout.rollback('$agent', 'flip')
\\sleep $flip_ms ms
};
	close($fh);
	return $file;
}

# Runs clients and the flipper together; the clients stop once the flips are done.
sub run_audit
{
	my ($agent, $token) = @_;
	my $client = client_script($agent, $token);
	my $flip = flip_script($agent);
	my $seconds = int($cycles * 3 * $flip_ms / 1000) + 2;
	my ($cout, $cerr, $fout, $ferr) = ('', '', '', '');
	my $c = IPC::Run::start(
		[ 'pgbench', '-n', '-M', 'extended', '-c', $clients, '-j', 2, '-T', $seconds,
		  '-f', $client, '-U', 'audit_svc', '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$cout, '2>', \$cerr);
	my $f = IPC::Run::start(
		[ 'pgbench', '-n', '-c', 1, '-t', $cycles, '-f', $flip,
		  '-U', 'audit_ops', '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$fout, '2>', \$ferr);
	my $fok = $f->finish;
	my $cok = $c->finish;
	ok($fok, "$agent: the flipper ran without error") or diag($ferr);
	ok($cok, "$agent: every client request was routed and recorded without error") or diag($cerr);
	my $r = $node->safe_psql('postgres', qq{
		SELECT count(*),
			   count(*) FILTER (WHERE coalesce(o.rollout_id, 0) <> (o.metrics->>'rid')::bigint
								  OR (o.rollout_id IS NOT NULL
									  AND (o.arm IS DISTINCT FROM CASE WHEN (o.metrics->>'cand')::int = 1
																	   THEN 'candidate' ELSE 'stable' END
										   OR o.stage IS DISTINCT FROM (o.metrics->>'st')::int))),
			   (SELECT count(*) FROM rollout.events e
				 WHERE e.agent = '$agent' AND e.action IN ('start', 'promote_manual', 'rollback'))
		FROM rollout.outcomes o WHERE o.agent = '$agent'});
	my ($n, $bad, $done) = split /\|/, $r;
	diag("$agent: $clients clients, $done flips, $n outcomes, $bad misattributed");
	return ($n, $bad, $done);
}

my ($n, $bad, $done) = run_audit('with_token', 1);
cmp_ok($n, '>', 0, 'outcomes were recorded under flips');
cmp_ok($done, '>=', $flips, 'the rollout was flipped as often as asked');
is($bad, 0, 'with the decision token no outcome is misattributed');

my ($n2, $bad2, $done2) = run_audit('by_time', 0);
cmp_ok($n2, '>', 0, 'outcomes were recorded without the token too');
note("without the token: $bad2 of $n2 outcomes misattributed");

$node->stop;
done_testing();
