# Upgrade 0.1.0 -> current: a database filled under 0.1.0 keeps its data
# through ALTER EXTENSION pg_rollout UPDATE (0.1.0 -> 0.2.0 -> ...), and its
# schema then equals a fresh install's; so does a database installed at each
# later release (0.2.0, 0.3.0, 0.4.0, 0.5.0) and updated. This test guards every upgrade section: on a mismatch it
# prints the difference, object by object, as "-" (upgraded) / "+" (fresh).
use strict;
use warnings;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;

my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'pg_rollout'");

$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
my @later_releases = ('0.2.0', '0.3.0', '0.4.0', '0.5.0');
sub db_of { my ($release) = @_; (my $db = "from_$release") =~ s/\./_/g; return $db; }
for my $release (@later_releases)
{
	$node->safe_psql('postgres', "CREATE DATABASE " . db_of($release) . "");
	$node->safe_psql(db_of($release), "CREATE EXTENSION pg_rollout VERSION '$release'");
	$node->safe_psql(db_of($release), q{
		SELECT rollout.create_agent('rel-bot');
		SELECT rollout.create_version('rel-bot', 'One.', 'gpt-4o-2024-08-06');
		SELECT rollout.create_version('rel-bot', 'Two.', 'gpt-4o-2024-08-06');
		SELECT rollout.set_label('rel-bot', 'production', 1);
		SELECT rollout.start('rel-bot', 2, risk => 'low');
		SELECT rollout.record('rel-bot', v, 'u' || i, success => true) FROM generate_series(1, 2) v, generate_series(1, 20) i;
		SELECT count(*) FROM rollout.maintain_outcomes();
	});
	$node->safe_psql(db_of($release), 'ALTER EXTENSION pg_rollout UPDATE');
	is($node->safe_psql(db_of($release), "SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'"),
		$current, "$release updates to $current");
	is($node->safe_psql(db_of($release), q{SELECT count(*) FROM rollout.outcomes}),
		'40', "outcomes recorded under $release are kept");
}
$node->safe_psql('upgraded', "CREATE EXTENSION pg_rollout VERSION '0.1.0'");
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'"),
	'0.1.0', '0.1.0 installs from its kept script');

# Fill 0.1.0 through its public functions.
$node->safe_psql('upgraded', q{
	SELECT rollout.create_agent('up-bot', 'kept across the upgrade');
	SELECT rollout.create_version('up-bot', 'One.', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('up-bot', 'Two.', 'gpt-4o-2024-08-06', tools => '[{"name": "search"}]');
	SELECT rollout.create_version('up-bot', 'Three.', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('up-bot', 'production', 1);
	SELECT rollout.set_label('up-bot', 'staging', 2);
	SELECT rollout.create_agent('done-bot');
	SELECT rollout.create_version('done-bot', 'A.', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('done-bot', 'B.', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('done-bot', 'production', 1);
	SELECT rollout.start('done-bot', 2, '{"steps": [{"percent": 10, "bake": "1 hour"}, {"percent": 100}]}');
	SELECT rollout.rollback('done-bot', 'bad');
	SELECT rollout.start('up-bot', 2, '{"steps": [{"percent": 20, "bake": "1 hour"}, {"percent": 100}],
		"gates": [{"name": "success", "metric": "success", "comparison": "rate", "margin": 0.1,
				   "test": "hard_limit", "min_samples": 5, "window": "1 hour", "action": "hold"}]}',
		at => rollout.window_start(now()) - interval '10 minutes');
	SELECT rollout.record('up-bot', v, 'u' || i, success => i % 7 <> 0, latency_ms => i,
						  at => now() - interval '1 minute')
		FROM generate_series(1, 2) v, generate_series(1, 40) i;
	SELECT rollout.refresh_aggregates();
	SELECT count(*) FROM rollout.maintain_outcomes();
	SELECT count(*) FROM rollout.tick();
	UPDATE rollout.plan_presets SET description = 'edited by the DBA' WHERE risk = 'high';
	INSERT INTO rollout.plan_presets (risk, plan) VALUES ('custom', '{"steps": [{"percent": 50, "bake": "1 hour"}, {"percent": 100}]}');
	INSERT INTO rollout.quality_scales VALUES ('up-bot', 0, 5);
});

# Content hash of each table over the columns it had in 0.1.0.
$node->safe_psql('upgraded', q{
	CREATE FUNCTION public.table_hash(t regclass, cols text[]) RETURNS text
	LANGUAGE plpgsql AS $$
	DECLARE h text;
	BEGIN
		EXECUTE format('SELECT count(*) || '' '' || coalesce(md5(string_agg(r, E''\n'' ORDER BY r)), ''-'')
			FROM (SELECT (SELECT jsonb_object_agg(key, value) FROM jsonb_each(to_jsonb(x))
						  WHERE key = ANY ($1))::text AS r FROM %s x %s) s', t,
			-- The shipped tiers nobody edited are the release''s to replace
			-- (checked against a fresh install below); the rest is kept.
			CASE WHEN t = 'rollout.plan_presets'::regclass
				 THEN 'WHERE risk NOT IN (''low'', ''medium'', ''critical'')' ELSE '' END)
			INTO h USING cols;
		RETURN h;
	END $$;
	CREATE TABLE public.before_upgrade AS
		SELECT c.oid::regclass::text AS tab,
			   array_agg(a.attname::text ORDER BY a.attnum) AS cols
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'p')
		  AND c.relname <> '_route_secret'
		GROUP BY c.oid;
	ALTER TABLE public.before_upgrade ADD COLUMN hash text;
	UPDATE public.before_upgrade SET hash = public.table_hash(tab::regclass, cols);
});
my $routes_sql = q{SELECT md5(string_agg(d.version || ' ' || d.arm, ',' ORDER BY i))
	FROM generate_series(1, 2000) i, rollout.route('up-bot', 'unit-' || i) d};
my $routes_before = $node->safe_psql('upgraded', $routes_sql);
my $events_before = $node->safe_psql('upgraded', 'SELECT count(*) FROM rollout.events');

$node->safe_psql('upgraded', 'ALTER EXTENSION pg_rollout UPDATE');
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'"),
	$current, "ALTER EXTENSION UPDATE reaches $current");

is( $node->safe_psql('upgraded', q{
		SELECT coalesce(string_agg(tab || ': ' || hash || ' -> ' || public.table_hash(tab::regclass, cols), E'\n'), '')
		FROM public.before_upgrade WHERE hash IS DISTINCT FROM public.table_hash(tab::regclass, cols)}),
	'', 'every table keeps its rows and their content');
is($node->safe_psql('upgraded', $routes_sql), $routes_before,
	'route() gives the same decisions for 2000 units');
is($node->safe_psql('upgraded', 'SELECT count(*) FROM rollout.events'), $events_before,
	'the upgrade itself writes no event');
is($node->safe_psql('upgraded', q{SELECT string_agg(risk || ' ' || builtin, ', ' ORDER BY risk) FROM rollout.plan_presets}),
	'critical true, custom false, high false, low true, medium true',
	'the edited and the custom tier are marked as not built in');
is($node->safe_psql('upgraded', q{SELECT DISTINCT author FROM rollout.outcomes}),
	'(before 0.2.0)', 'outcomes recorded before the upgrade have no known author');

# The upgraded extension works: record names its author, status reads.
$node->safe_psql('upgraded', q{SELECT rollout.record('up-bot', 1, success => true)});
is($node->safe_psql('upgraded', q{SELECT count(*) FROM rollout.outcomes WHERE author = current_user}),
	'1', 'a new outcome stores its author');
is($node->safe_psql('upgraded', q{SELECT state FROM rollout.status WHERE agent = 'up-bot'}),
	'canary', 'status reads after the upgrade');

# Schema: the upgraded database against a fresh install.
$node->safe_psql('fresh', 'CREATE EXTENSION pg_rollout');
# The same daily partitions exist on both sides (they are dumped as tables).
$node->safe_psql('fresh', 'SELECT count(*) FROM rollout.maintain_outcomes()');
$node->safe_psql('upgraded', 'DROP FUNCTION public.table_hash(regclass, text[]); DROP TABLE public.before_upgrade');

my $config_sql = q{SELECT string_agg(c.relname || coalesce(' ' || nullif(x.cond, ''), ''), E'\n' ORDER BY c.relname)
	FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(oid, cond)
	JOIN pg_class c ON c.oid = x.oid WHERE e.extname = 'pg_rollout'};
is($node->safe_psql('upgraded', $config_sql), $node->safe_psql('fresh', $config_sql),
	'the same tables and sequences are registered for pg_dump');

my $dir = tempdir(CLEANUP => 1);

# pg_dump --schema-only shows an extension as CREATE EXTENSION alone;
# --binary-upgrade shows every member object, its privileges and initial
# privileges. Normalized: OIDs, storage details (preserved OIDs, frozen
# xids, missing values of columns added with a default, dropped columns),
# sequence positions, and column order (an upgrade appends columns) are not
# compared.
sub normalized_schema
{
	my ($db) = @_;
	my $file = "$dir/$db.sql";
	$node->command_ok(
		[ 'pg_dump', '--schema-only', '--binary-upgrade',
		  '-d', $node->connstr($db), '-f', $file ],
		"pg_dump --schema-only of $db");
	my $text = slurp_file($file);
	my %blocks;
	for my $block (split /\n--\n-- (?=Name: )/, $text)
	{
		my ($head, $body) = $block =~ /\A(Name: [^\n]*)\n?(.*)\z/s;
		next unless defined $head;
		my @lines;
		for my $line (split /\n/, $body)
		{
			next if $line =~ /^\s*$/ || $line =~ /^--/ || $line =~ /^\\(un)?restrict /;
			next if $line =~ /binary_upgrade_set_next_|binary_upgrade_set_missing_value/;
			next if $line =~ /binary_upgrade_set_record_init_privs|pg_catalog\.setval\(/;
			next if $line =~ /relfrozenxid|^\s*WHERE oid = '\d+'|^UPDATE pg_catalog\.pg_class$/;
			next if $line =~ /pg\.dropped\.|attisdropped|^\s*SET (attlen|attalign|attbyval)/;
			next if $line =~ /^\s*(WHERE attname|AND attrelid)/;
			$line =~ s/'\{[0-9,]+\}'/'{OIDS}'/g;
			$line =~ s/,\s*$//;
			push @lines, $line;
		}
		# An ACL entry with nothing left (owner-only privileges made explicit
		# by the upgrade's REVOKE on daily partitions) says nothing.
		next if !@lines;
		$head =~ s/; Owner: .*//;
		push @{ $blocks{$head} }, join("\n", sort @lines);
	}
	my $out = "$dir/$db.normalized";
	open my $fh, '>', $out or die "could not write $out: $!";
	for my $head (sort keys %blocks)
	{
		print $fh "== $head\n", join("\n", sort @{ $blocks{$head} }), "\n";
	}
	close $fh;
	return $out;
}

sub compare_with_fresh
{
	my ($db, $from) = @_;
	my $upgraded = normalized_schema($db);
	my $fresh = normalized_schema('fresh');
	my ($stdout, $stderr);
	IPC::Run::run([ 'diff', '-U2', '--show-function-line=^== ', '--label', "$from upgraded to $current",
					'--label', "fresh $current", $upgraded, $fresh ],
		'>', \$stdout, '2>', \$stderr);
	is($stdout, '', "the schema upgraded from $from equals a fresh install")
	  or diag("Objects that differ (each hunk header and \"==\" line names the object; '-' is the upgraded database, '+' the fresh one).\n"
		  . "Add what is missing to the upgrade script of the release it is new in:\n$stdout");
}

# Built-in tiers are not dumped: the upgrade brings the shipped ones to the
# release's plans and leaves the edited ones alone.
my $presets_sql = q{SELECT string_agg(risk || ' ' || plan::text || ' ' || description, E'\n' ORDER BY risk)
	FROM rollout.plan_presets WHERE builtin};
is($node->safe_psql('upgraded', $presets_sql),
	$node->safe_psql('fresh', $presets_sql . q{ AND risk <> 'high'}),
	'the built-in tiers upgraded from 0.1.0 are the fresh ones (high was edited)');
for my $release (@later_releases)
{
	is($node->safe_psql(db_of($release), $presets_sql), $node->safe_psql('fresh', $presets_sql),
		"the built-in tiers upgraded from $release are the fresh ones");
}

compare_with_fresh('upgraded', '0.1.0');
for my $release (@later_releases)
{
	$node->safe_psql(db_of($release), 'SELECT count(*) FROM rollout.maintain_outcomes()');
	compare_with_fresh(db_of($release), $release);
}

$node->stop;
done_testing();
