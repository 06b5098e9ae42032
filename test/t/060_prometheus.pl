# The real prometheus-postgres-exporter (Debian's package) with
# contrib/prometheus/queries.yaml, connected as a LOGIN member of
# rollout_reader, scraped over loopback during a running canary: the
# pg_rollout series and their values (state, share, samples, gate
# verdicts, counters) agree with SQL. promtool validates alerts.yml and
# runs its unit tests. Skipped when the exporter is not installed.
use strict;
use warnings;
use File::Spec;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $exporter = '/usr/bin/prometheus-postgres-exporter';
plan skip_all => 'prometheus-postgres-exporter is not installed' unless -x $exporter;
my $queries = File::Spec->rel2abs('contrib/prometheus/queries.yaml');

my $node = PostgreSQL::Test::Cluster->new('prometheus');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
# No worker ticks on the real clock: the test ticks when it means to.
$node->append_conf('postgresql.conf', "rollout.tick_interval = 0");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	CREATE ROLE exporter LOGIN IN ROLE rollout_reader;
	SELECT rollout.create_agent('px-bot');
	SELECT rollout.create_version('px-bot', 'one', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('px-bot', 'two', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('px-bot', 'production', 1);
	SELECT rollout.start('px-bot', 2, '{
	  "steps": [{"percent": 25, "bake": "1 day", "min_samples": 100}, {"percent": 100}],
	  "evaluation_interval": "5 minutes",
	  "gates": [
	    {"name": "success", "metric": "success", "comparison": "rate", "margin": 0.05,
	     "test": "sequential", "min_samples": 50, "window": "1 hour", "action": "rollback"},
	    {"name": "errors", "metric": "error", "comparison": "rate", "margin": 0.5,
	     "test": "hard_limit", "min_samples": 10, "window": "1 hour", "action": "hold"}]}',
	  at => rollout.window_start(now()) - interval '30 minutes');
	SELECT count(rollout.record('px-bot', (d).version, 'u' || i, success => i % 10 <> 0,
	                            latency_ms => 100 + i % 50, at => now() - interval '20 minutes'))
	FROM (SELECT i, rollout.route('px-bot', 'u' || i) AS d FROM generate_series(1, 300) i) r;
	SELECT count(*) FROM rollout.tick();
});

# The exporter on a free loopback port, only the pg_rollout queries.
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = PostgreSQL::Test::Utils::tempdir() . '/exporter.log';
local $ENV{DATA_SOURCE_NAME} = 'host=' . $node->host . ' port=' . $node->port
  . ' user=exporter dbname=postgres sslmode=disable';
my $h = IPC::Run::start([ $exporter, '--disable-default-metrics', '--disable-settings-metrics',
		"--extend.query-path=$queries", "--web.listen-address=127.0.0.1:$port" ],
	'<', \undef, '>', $log, '2>', $log);

my $http = HTTP::Tiny->new(timeout => 10);
my $body = '';
for (my $i = 0; $i < 100; $i++)
{
	my $res = $http->get("http://127.0.0.1:$port/metrics");
	if ($res->{success} && $res->{content} =~ /^pg_rollout_db_active_rollouts[{ ]/m)
	{
		$body = $res->{content};
		last;
	}
	select(undef, undef, undef, 0.2);
}
ok($body ne '', 'the exporter serves pg_rollout series on /metrics')
  or diag(slurp_file($log));
note(join("\n", grep { /^pg_rollout/ } split /\n/, $body));

# The value of one series (labels in the exporter's order: as the query's columns).
sub series
{
	my ($name, %labels) = @_;
	my @found;
	for my $line (split /\n/, $body)
	{
		next unless $line =~ /^\Q$name\E(?:\{(.*)\})? (\S+)$/;
		my ($lbl, $val) = ($1 // '', $2);
		my %l = $lbl =~ /(\w+)="([^"]*)"/g;
		next if grep { ($l{$_} // '') ne $labels{$_} } keys %labels;
		push @found, $val;
	}
	return scalar(@found) == 1 ? $found[0] : 'found ' . scalar(@found);
}

my $sql = sub { return $node->safe_psql('postgres', $_[0]); };
my ($rid, $state, $percent, $stage) = split /\|/,
  $sql->(q{SELECT id, state, percent::float8, stage FROM rollout.rollouts WHERE agent = 'px-bot'});
my %r = (agent => 'px-bot', rollout_id => $rid);

is(series('pg_rollout_state_current', %r, state => $state), '1', "state $state is 1");
is(series('pg_rollout_state_current', %r, state => 'promoted'), '0', 'other states are 0');
is(series('pg_rollout_candidate_percent', %r), $percent, "candidate share $percent");
is(series('pg_rollout_stage', %r), $stage, "stage $stage");
is(series('pg_rollout_active_samples_needed', %r), '100', 'samples needed from the plan');

for my $arm ('stable', 'candidate')
{
	my $n = $sql->(qq{SELECT n FROM rollout.arm_summary($rid, '-infinity', 'infinity') WHERE arm = '$arm' AND NOT shadow});
	is(series('pg_rollout_arm_samples', %r, arm => $arm), $n, "$arm samples $n");
	my $x = $sql->(qq{SELECT exposures FROM rollout.exposure_totals WHERE rollout_id = $rid AND arm = '$arm'});
	is(series('pg_rollout_arm_exposures_total', %r, arm => $arm), $x, "$arm exposures $x");
	my $rate = $sql->(qq{SELECT n_success::float8 / n_success_known FROM rollout.arm_summary($rid, '-infinity', 'infinity') WHERE arm = '$arm' AND NOT shadow});
	cmp_ok(abs(series('pg_rollout_arm_success_rate', %r, arm => $arm) - $rate), '<', 1e-9, "$arm success rate $rate");
	like(series('pg_rollout_arm_latency_milliseconds', %r, arm => $arm, quantile => '0.95'),
		qr/^1[0-5]\d(\.\d+)?(e\+02)?$/, "$arm p95 latency from the sketch");
}

for my $row (split /\n/, $sql->(qq{SELECT DISTINCT ON (gate) gate, verdict FROM rollout.gate_results
		WHERE rollout_id = $rid ORDER BY gate, id DESC}))
{
	my ($gate, $verdict) = split /\|/, $row;
	is(series('pg_rollout_gate_verdict_current', %r, gate => $gate, verdict => $verdict), '1', "gate $gate: $verdict");
	my @others = grep { $_ ne $verdict } qw(pass fail inconclusive error);
	is(join(',', map { series('pg_rollout_gate_verdict_current', %r, gate => $gate, verdict => $_) } @others),
		'0,0,0', "gate $gate: other verdicts 0");
}
is(series('pg_rollout_agent_rollbacks_total', agent => 'px-bot'), '0', 'no rollbacks yet');
is(series('pg_rollout_db_active_rollouts'), '1', 'one active rollout');
cmp_ok(series('pg_rollout_db_seconds_since_tick'), '<', 600, 'ticked recently');
like($body, qr/^# TYPE pg_rollout_arm_exposures_total counter$/m, 'exposures are a counter');

# A rollback shows on the next scrape.
$sql->(q{SELECT rollout.rollback('px-bot', 'exporter test')});
my $res = $http->get("http://127.0.0.1:$port/metrics");
$body = $res->{content};
is(series('pg_rollout_state_current', %r, state => 'rolled_back'), '1', 'rolled back on the next scrape');
is(series('pg_rollout_agent_rollbacks_total', agent => 'px-bot'), '1', 'rollback counted');
is(series('pg_rollout_candidate_percent', %r), '0', 'share back to 0');

$h->kill_kill;

# Alert rules: syntax, and their unit tests.
SKIP:
{
	my ($promtool) = grep { -x $_ } ('/usr/bin/promtool');
	skip 'promtool is not installed', 2 unless defined $promtool;
	my ($out, $err) = ('', '');
	ok(IPC::Run::run([ $promtool, 'check', 'rules', 'contrib/prometheus/alerts.yml' ], '>', \$out, '2>', \$err),
		'promtool check rules alerts.yml') or diag("$out$err");
	ok(IPC::Run::run([ $promtool, 'test', 'rules', 'contrib/prometheus/alerts_test.yml' ], '>', \$out, '2>', \$err),
		'promtool test rules alerts_test.yml') or diag("$out$err");
}

$node->stop;
done_testing();
