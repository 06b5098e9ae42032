# contrib/grafana/pg_rollout.json: Grafana is not packaged in Debian, so
# every SQL query of the dashboard (panels, variables, annotations) is
# extracted, its variables and time macro substituted as Grafana would, and
# run against a database with a rollout in progress, as a LOGIN member of
# rollout_reader. Every query must succeed and return rows; the per-arm
# panels must show both arms and their gate's threshold.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dashboard = decode_json(slurp_file('contrib/grafana/pg_rollout.json'));

my $node = PostgreSQL::Test::Cluster->new('grafana');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
# No worker ticks on the real clock: the test ticks when it means to.
$node->append_conf('postgresql.conf', "rollout.tick_interval = 0");
$node->start;
# Two hours of traffic on a simulated clock through a canary whose gates
# cover success, errors, quality and p95 latency; a tick every 5 minutes.
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	CREATE ROLE dash LOGIN IN ROLE rollout_reader;
	SELECT rollout.create_agent('gf-bot');
	SELECT rollout.create_version('gf-bot', 'one', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('gf-bot', 'two', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('gf-bot', 'production', 1);
	SELECT setseed(0.5);
	SELECT rollout.start('gf-bot', 2, '{
	  "steps": [{"percent": 20, "bake": "1 hour", "min_samples": 100},
	            {"percent": 50, "bake": "1 hour", "min_samples": 100}, {"percent": 100}],
	  "evaluation_interval": "5 minutes",
	  "gates": [
	    {"name": "success", "metric": "success", "comparison": "rate", "margin": 0.05,
	     "test": "sequential", "min_samples": 50, "window": "1 hour", "action": "rollback"},
	    {"name": "errors", "metric": "error", "comparison": "rate", "margin": 0.05,
	     "test": "hard_limit", "min_samples": 50, "window": "1 hour", "action": "hold"},
	    {"name": "quality", "metric": "quality", "comparison": "mean", "margin": 0.1,
	     "test": "welch", "min_samples": 20, "window": "1 hour", "action": "dry_run"},
	    {"name": "latency", "metric": "latency_ms", "comparison": "p95", "ratio": 0.15,
	     "test": "hard_limit", "min_samples": 50, "window": "30 minutes", "action": "hold"}]}',
	  at => '2026-03-02 08:00+00');
	CREATE PROCEDURE traffic() LANGUAGE plpgsql AS $$
	DECLARE
		d rollout.decision;
		v_at timestamptz;
		ok boolean;
	BEGIN
		FOR slot IN 0 .. 23 LOOP
			v_at := '2026-03-02 08:00+00'::timestamptz + make_interval(mins => slot * 5);
			FOR i IN 1 .. 150 LOOP
				d := rollout.route('gf-bot', 'u' || (slot * 150 + i));
				ok := random() < 0.92;
				PERFORM rollout.record('gf-bot', d.version, 'u' || (slot * 150 + i), success => ok,
					quality => CASE WHEN ok THEN 0.8 ELSE 0.3 END + random() * 0.1,
					latency_ms => 500 + random() * 500, error => random() < 0.02,
					at => v_at + make_interval(secs => i));
			END LOOP;
			COMMIT;
			PERFORM rollout.tick(v_at + interval '5 minutes');
			COMMIT;
		END LOOP;
	END $$;
	CALL traffic();
});
my $rid = $node->safe_psql('postgres', q{SELECT max(id) FROM rollout.rollouts WHERE agent = 'gf-bot'});
note($node->safe_psql('postgres', qq{SELECT string_agg(action, ' ') FROM rollout.events WHERE rollout_id = $rid}));

# What Grafana does before sending a query: variables and the time macro.
sub grafana_sql
{
	my ($sql) = @_;
	$sql =~ s/\$\{?agent\}?/gf-bot/g;
	$sql =~ s/\$\{?rollout\}?/$rid/g;
	$sql =~ s/\$__timeFilter\(([^)]+)\)/$1 BETWEEN '2026-03-02T00:00:00Z' AND '2026-03-03T00:00:00Z'/g;
	return $sql;
}

# Every query of the dashboard, with where it comes from.
my @queries;
for my $v (@{ $dashboard->{templating}{list} })
{
	push @queries, [ "variable $v->{name}", $v->{query} ];
}
for my $a (@{ $dashboard->{annotations}{list} })
{
	push @queries, [ "annotation $a->{name}", $a->{target}{rawSql} ];
}
my @panels = @{ $dashboard->{panels} };
while (my $p = shift @panels)
{
	push @panels, @{ $p->{panels} } if $p->{panels};
	for my $t (@{ $p->{targets} // [] })
	{
		push @queries, [ "panel \"$p->{title}\" $t->{refId}", $t->{rawSql} ] if $t->{rawSql};
	}
}
cmp_ok(scalar(@queries), '>=', 12, 'the dashboard has its queries');

for my $q (@queries)
{
	my ($what, $sql) = @$q;
	my ($ret, $out, $err) = $node->psql('postgres', grafana_sql($sql), extra_params => [ '-U', 'dash' ]);
	is($ret, 0, "$what runs as rollout_reader") or diag($err);
	cmp_ok(scalar(grep { $_ ne '' } split /\n/, $out), '>', 0, "$what returns rows");
	if ($what =~ /per arm/)
	{
		like($out, qr/\|stable\|/, "$what: stable arm");
		like($out, qr/\|candidate\|/, "$what: candidate arm");
		like($out, qr/\|gate \w+ threshold\|/, "$what: gate threshold");
	}
}

$node->stop;
done_testing();
