# route() through pgbouncer in transaction pooling mode: decisions equal the
# direct ones, a pin issued through the pooler verifies directly (and back),
# and a rollback committed through the pooler is seen by the next
# transaction, whichever server connection serves it. Skipped when
# pgbouncer is not installed.
use strict;
use warnings;
use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($pgbouncer) = grep { -x $_ } ('/usr/sbin/pgbouncer', '/usr/bin/pgbouncer',
	map { File::Spec->catfile($_, 'pgbouncer') } split(/:/, $ENV{PATH} // ''));
plan skip_all => 'pgbouncer is not installed' unless defined $pgbouncer;

my $node = PostgreSQL::Test::Cluster->new('bouncer_target');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_rollout'");
# No worker ticks: the rollout below is written by hand, without a plan.
$node->append_conf('postgresql.conf', "rollout.tick_interval = 0");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_rollout;
	SELECT rollout.create_agent('pb');
	SELECT rollout.create_version('pb', 'one', 'gpt-4o-2024-08-06');
	SELECT rollout.create_version('pb', 'two', 'gpt-4o-2024-08-06');
	SELECT rollout.set_label('pb', 'production', 1);
	INSERT INTO rollout.rollouts (id, agent, baseline, candidate, percent, salt, judge_rate)
		VALUES (11, 'pb', 1, 2, 50, 99, 0);
});

# pgbouncer in transaction mode on its own Unix socket, trusting the OS user.
my $dir = PostgreSQL::Test::Utils::tempdir_short();
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $user = $node->safe_psql('postgres', 'SELECT current_user');
my $ini = "$dir/pgbouncer.ini";
open(my $fh, '>', "$dir/users.txt") or die "could not write users.txt: $!";
print $fh qq{"$user" ""\n};
close $fh;
open($fh, '>', $ini) or die "could not write pgbouncer.ini: $!";
print $fh "[databases]\n";
print $fh "postgres = host=" . $node->host . " port=" . $node->port . " dbname=postgres\n";
print $fh "[pgbouncer]\n";
print $fh "listen_addr =\n";
print $fh "listen_port = $port\n";
print $fh "unix_socket_dir = $dir\n";
print $fh "auth_type = trust\n";
print $fh "auth_file = $dir/users.txt\n";
print $fh "pool_mode = transaction\n";
print $fh "default_pool_size = 3\n";
print $fh "max_client_conn = 20\n";
print $fh "logfile = $dir/pgbouncer.log\n";
print $fh "pidfile = $dir/pgbouncer.pid\n";
close $fh;
system_or_bail($pgbouncer, '-d', $ini);
for (my $i = 0; $i < 100 && !-S "$dir/.s.PGSQL.$port"; $i++)
{
	select(undef, undef, undef, 0.1);
}
ok(-S "$dir/.s.PGSQL.$port", 'pgbouncer listens');

# Runs SQL through pgbouncer in a new psql process; returns its output.
sub bounced
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
			'-h', $dir, '-p', $port, '-U', $user, '-d', 'postgres', '-c', $sql ],
		'>', \$out, '2>', \$err)
	  or die "psql through pgbouncer failed: $err";
	chomp $out;
	return $out;
}

my $decision = q{SELECT string_agg(concat_ws(' ', d.version, d.arm, d.rollout_id, d.reason), ', ' ORDER BY i)
	FROM generate_series(1, 40) i, rollout.route('pb', 'u' || i) d};
my $direct = $node->safe_psql('postgres', $decision);
like($direct, qr/2 candidate 11 canary 50%/, 'direct decisions include the candidate');
for my $call (1 .. 4)
{
	is(bounced($decision), $direct, "decisions through pgbouncer equal direct ones (psql call $call)");
}

# Several transactions in one client connection, each on whichever server
# connection pgbouncer picks.
is(bounced("BEGIN; $decision; COMMIT; BEGIN; $decision; COMMIT;"), "$direct\n$direct",
	'decisions agree across pooled transactions');

# Pins: issued through the pooler, honoured directly, and the other way round.
my $pin = bounced(q{SELECT pin FROM rollout.route('pb', 'u1', 'sess-1')});
like($pin, qr/^1\.11\.[12]\.\d+\.[0-9a-f]{32}$/, 'a pin is issued through pgbouncer');
is($node->safe_psql('postgres', qq{SELECT reason FROM rollout.route('pb', 'u2', 'sess-1', pin => '$pin')}),
	'pinned', 'the pin verifies on a direct connection');
my $pin2 = $node->safe_psql('postgres', q{SELECT pin FROM rollout.route('pb', 'u3', 'sess-2')});
is(bounced(qq{SELECT reason FROM rollout.route('pb', 'u4', 'sess-2', pin => '$pin2')}),
	'pinned', 'a direct pin verifies through pgbouncer');

# A rollback committed through the pooler: every later transaction, on any
# pooled server connection, serves production.
bounced(q{UPDATE rollout.rollouts SET state = 'rolled_back', ended_at = now(), drain_skipped = true
	WHERE id = 11});
my $after = join(', ', map { "1 stable no rollout" } 1 .. 40);
for my $call (1 .. 3)
{
	is(bounced($decision), $after, "after the rollback, every decision is production (call $call)");
}
is($node->safe_psql('postgres', $decision), $after, 'and directly as well');

# route() wrote nothing: no transaction id was assigned by routing.
is(bounced(q{SELECT count(*) FROM rollout.route('pb', 'u1'), txid_current_if_assigned() t WHERE t IS NULL}),
	'1', 'route() assigns no transaction id through pgbouncer');

if (open(my $pidfh, '<', "$dir/pgbouncer.pid"))
{
	my $pid = <$pidfh>;
	close $pidfh;
	chomp $pid;
	kill 'TERM', $pid if $pid =~ /^\d+$/;
}
$node->stop;
done_testing();
