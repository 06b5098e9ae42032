# The library loads through shared_preload_libraries, the extension installs,
# and it also works in a server that does not preload it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
$node->start;

is($node->safe_psql('postgres', "SHOW shared_preload_libraries"), 'pg_rollout',
	'library is preloaded');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_rollout');
# The installed version is the control file's default_version (0.6.0 now).
is($node->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'"),
	$node->safe_psql('postgres',
		"SELECT default_version FROM pg_available_extensions WHERE name = 'pg_rollout'"),
	'extension created at the default version');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_roles WHERE rolname LIKE 'rollout\\_%' AND NOT rolcanlogin"),
	'4', 'four NOLOGIN roles exist');

$node->safe_psql('postgres', q{
	SELECT rollout.create_agent('tap-bot');
	SELECT rollout.create_version('tap-bot', 'Be brief.', 'model-2024-01-01');
	SELECT rollout.set_label('tap-bot', 'production', 1);
});
is($node->safe_psql('postgres', "SELECT version FROM rollout.get_version('tap-bot')"),
	'1', 'registry works with the library preloaded');

# A second database gets the extension too: the roles already exist.
$node->safe_psql('postgres', 'CREATE DATABASE second');
$node->safe_psql('second', 'CREATE EXTENSION pg_rollout');
pass('extension installs in a second database of the same cluster');

# Without preloading, every SQL function still works.
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;
is($node->safe_psql('postgres',
		"SELECT rollout.create_version('tap-bot', 'Be briefer.', 'model-2024-01-01')"),
	'2', 'registry works without preloading');

# The extension drops cleanly and re-installs.
$node->safe_psql('second', 'DROP EXTENSION pg_rollout');
$node->safe_psql('second', 'CREATE EXTENSION pg_rollout');
pass('extension drops and re-creates');

$node->stop;
done_testing();
