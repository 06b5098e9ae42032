# The example services (examples/python, examples/go, examples/node) run
# for a few hundred requests each against a live instance as a LOGIN member
# of rollout_service, during a canary at 30% and during a shadow phase,
# directly (prepared statements) and through pgbouncer in transaction mode.
# Every outcome must arrive once per request, with the version and arm
# route() gives its unit, and a shadow outcome for every request whose
# decision named a shadow version. A client whose toolchain is missing is
# skipped with a message (node: npm's registry was unreachable at set-up).
use strict;
use warnings;
use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $N = 300;          # requests per run
my $N_POOLED = 100;   # requests per run through pgbouncer

my $node = PostgreSQL::Test::Cluster->new('clients');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
# No worker ticks on the real clock: the test ticks when it means to.
$node->append_conf('postgresql.conf', "rollout.tick_interval = 0");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	CREATE ROLE svc LOGIN IN ROLE rollout_service;
	-- An agent in a canary at 30% and one in a shadow phase that runs the
	-- candidate beside half of the requests.
	CREATE FUNCTION pg_temp.agent(name text, shadow boolean) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM rollout.create_agent(name);
		PERFORM rollout.create_version(name, 'You answer tickets.', 'gpt-4o-2024-08-06',
			tools => '[{"name": "search_kb"}, {"name": "create_ticket", "writes": true}]');
		PERFORM rollout.create_version(name, 'You answer tickets briefly.', 'gpt-4o-2024-08-06',
			tools => '[{"name": "search_kb"}, {"name": "create_ticket", "writes": true}]');
		PERFORM rollout.set_label(name, 'production', 1);
		IF shadow THEN
			PERFORM rollout.start(name, 2, '{"strategy": "shadow", "shadow": {"percent": 50, "duration": "1 day"}}');
		ELSE
			PERFORM rollout.start(name, 2, '{"steps": [{"percent": 30, "bake": "1 day"}, {"percent": 100}],
				"judge_rate": 0.2}');
		END IF;
	END $$;
	SELECT pg_temp.agent(c || '-' || k || p, k = 'shadow')
	FROM unnest(ARRAY['python', 'go', 'node']) c, unnest(ARRAY['canary', 'shadow']) k,
		 unnest(ARRAY['', '-pooled']) p;
});
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT state || ' ' || percent, ', ') FROM rollout.rollouts}),
	'canary 30.00, shadow 0.00', 'rollouts running');

# pgbouncer in transaction mode in front of the instance, when installed.
my ($pgbouncer) = grep { -x $_ } ('/usr/sbin/pgbouncer', '/usr/bin/pgbouncer');
my $bdir = PostgreSQL::Test::Utils::tempdir_short();
my $bport = PostgreSQL::Test::Cluster::get_free_port();
if (defined $pgbouncer)
{
	open(my $fh, '>', "$bdir/users.txt") or die "could not write users.txt: $!";
	print $fh qq{"svc" ""\n};
	close $fh;
	open($fh, '>', "$bdir/pgbouncer.ini") or die "could not write pgbouncer.ini: $!";
	print $fh "[databases]\npostgres = host=" . $node->host . " port=" . $node->port . " dbname=postgres\n";
	print $fh "[pgbouncer]\nlisten_addr =\nlisten_port = $bport\nunix_socket_dir = $bdir\n";
	print $fh "auth_type = trust\nauth_file = $bdir/users.txt\npool_mode = transaction\n";
	print $fh "default_pool_size = 2\nmax_client_conn = 20\n";
	print $fh "logfile = $bdir/pgbouncer.log\npidfile = $bdir/pgbouncer.pid\n";
	close $fh;
	system_or_bail($pgbouncer, '-d', "$bdir/pgbouncer.ini");
	for (my $i = 0; $i < 100 && !-S "$bdir/.s.PGSQL.$bport"; $i++)
	{
		select(undef, undef, undef, 0.1);
	}
}

# Runs a client command for an agent; returns true when it exits 0.
sub run_client
{
	my ($cmd, $agent, $n, $pooled) = @_;
	local $ENV{PGHOST} = $pooled ? $bdir : $node->host;
	local $ENV{PGPORT} = $pooled ? $bport : $node->port;
	local $ENV{PGUSER} = 'svc';
	local $ENV{PGDATABASE} = 'postgres';
	local $ENV{PG_ROLLOUT_POOLER} = $pooled ? 'transaction' : '';
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ @$cmd, $agent, $n ], '>', \$out, '2>', \$err);
	diag("$agent: $err") unless $ok;
	return $ok && $out =~ /"requests":\s*$n/;
}

# The outcomes of one run agree with route().
sub check_outcomes
{
	my ($agent, $n, $shadow) = @_;
	my $sql = sub { return $node->safe_psql('postgres', $_[0]); };
	is($sql->(qq{SELECT count(*) FROM rollout.outcomes WHERE agent = '$agent' AND NOT shadow}),
		$n, "$agent: one outcome per request");
	is($sql->(qq{SELECT count(*) FROM rollout.outcomes o, rollout.route(o.agent, o.unit) d
			WHERE o.agent = '$agent' AND NOT o.shadow
			  AND (o.version <> d.version OR o.arm IS DISTINCT FROM d.arm
				   OR o.rollout_id IS DISTINCT FROM d.rollout_id)}),
		'0', "$agent: every outcome has the version and arm route() gives its unit");
	if ($shadow)
	{
		my $expected = $sql->(qq{SELECT count(*) FROM generate_series(0, $n - 1) i,
				rollout.route('$agent', 'user-' || i % 97) d WHERE d.shadow_version IS NOT NULL});
		cmp_ok($expected, '>', 0, "$agent: some decisions name a shadow version");
		is($sql->(qq{SELECT count(*) || ' v' || string_agg(DISTINCT version::text, ',')
				FROM rollout.outcomes WHERE agent = '$agent' AND shadow}),
			"$expected v2", "$agent: one shadow outcome of version 2 per shadowed request");
	}
	else
	{
		is($sql->(qq{SELECT string_agg(arm || ' v' || version, ', ' ORDER BY arm)
				FROM (SELECT DISTINCT arm, version FROM rollout.outcomes WHERE agent = '$agent') a}),
			'candidate v2, stable v1', "$agent: both arms served");
		cmp_ok($sql->(qq{SELECT count(*) FROM rollout.outcomes WHERE agent = '$agent' AND quality IS NOT NULL}),
			'>', 0, "$agent: judge-sampled requests carry a quality score");
	}
	return;
}

my %clients;
SKIP:
{
	my $ok = system('/usr/bin/python3', '-c', 'import psycopg') == 0;
	skip 'python3-psycopg is not installed', 1 unless $ok;
	$clients{python} = [ '/usr/bin/python3', File::Spec->rel2abs('examples/python/agent_service.py') ];
	pass('python client ready');
}
SKIP:
{
	my ($go) = grep { -x $_ } ('/usr/bin/go', '/usr/lib/go/bin/go');
	skip 'golang-go is not installed', 1 unless defined $go;
	my $gdir = PostgreSQL::Test::Utils::tempdir();
	local $ENV{GO111MODULE} = 'off';
	local $ENV{GOPATH} = '/usr/share/gocode';
	local $ENV{GOCACHE} = "$gdir/cache";
	local $ENV{GOFLAGS} = '';
	my ($out, $err) = ('', '');
	my $built = IPC::Run::run([ $go, 'build', '-o', "$gdir/agent_service",
			File::Spec->rel2abs('examples/go/agent_service.go') ], '>', \$out, '2>', \$err);
	ok($built, 'go client builds offline against Debian\'s pgx v4') or diag($err);
	$clients{go} = [ "$gdir/agent_service" ] if $built;
}
SKIP:
{
	my $module = File::Spec->rel2abs('examples/node/node_modules/pg/package.json');
	skip 'node client: the npm module pg was not installed by test/setup.sh (npm registry unreachable?)', 1
	  unless -f $module && system('node', '--version') == 0;
	$clients{node} = [ 'node', File::Spec->rel2abs('examples/node/agent_service.js') ];
	pass('node client ready');
}

for my $c (sort keys %clients)
{
	ok(run_client($clients{$c}, "$c-canary", $N, 0), "$c: $N requests during the canary");
	check_outcomes("$c-canary", $N, 0);
	ok(run_client($clients{$c}, "$c-shadow", $N, 0), "$c: $N requests during the shadow phase");
	check_outcomes("$c-shadow", $N, 1);
  SKIP:
	{
		skip 'pgbouncer is not installed', 2 unless defined $pgbouncer;
		ok(run_client($clients{$c}, "$c-canary-pooled", $N_POOLED, 1),
			"$c: $N_POOLED requests through pgbouncer (transaction mode)");
		check_outcomes("$c-canary-pooled", $N_POOLED, 0);
		ok(run_client($clients{$c}, "$c-shadow-pooled", $N_POOLED, 1),
			"$c: $N_POOLED shadowed requests through pgbouncer");
		check_outcomes("$c-shadow-pooled", $N_POOLED, 1);
	}
}

if (defined $pgbouncer && -f "$bdir/pgbouncer.pid")
{
	my $pid = PostgreSQL::Test::Utils::slurp_file("$bdir/pgbouncer.pid");
	chomp $pid;
	kill 'TERM', $pid;
}
$node->stop;
done_testing();
