-- A table-driven corpus of bad calls (issue 10): every public function and
-- the ddsketch type input, called with NULLs, empty and huge (1 MB) text,
-- NaN and +-Infinity, out-of-range numbers, malformed and deep JSON,
-- infinite times, 2-D arrays and the wrong lifecycle state. Each case names
-- the SQLSTATE it must raise; the test lists every case that raised another
-- one (none), counts the cases by SQLSTATE, checks that no message echoes
-- more than ~100 bytes of its input, and that nothing was half-applied: the
-- contents of every table of the schema are the same before and after.
\i test/sql/helpers.sql
SET timezone = 'UTC';

SELECT rollout.create_agent('c-bot') > 0 AS agent;
SELECT rollout.create_version('c-bot', 'One.', 'gpt-4o-2024-08-06') AS v1,
	   rollout.create_version('c-bot', 'Two.', 'gpt-4o-2024-08-06') AS v2;
SELECT rollout.set_label('c-bot', 'production', 1);
-- Another agent, whose decision tokens do not verify for c-bot.
SELECT rollout.create_agent('other-bot') > 0 AS agent;
SELECT rollout.create_version('other-bot', 'One.', 'gpt-4o-2024-08-06') AS v1;
SELECT rollout.set_label('other-bot', 'production', 1);

CREATE TEMP TABLE cases (
	id			serial PRIMARY KEY,
	grp			text NOT NULL,
	call		text NOT NULL,
	expected	text NOT NULL,
	got			text,
	msg			text
);

-- Values shared by several groups.
CREATE TEMP TABLE big AS SELECT repeat('x', 1048576) AS mb;

------------------------------------------------------------------------------
-- ddsketch text input: each field of a good sketch replaced by a bad value.
INSERT INTO cases (grp, call, expected)
SELECT 'ddsketch_in', format('%L::rollout.ddsketch',
			regexp_replace(t.sketch, f.field || '=[^ ]*', f.field || '=' || v.val)), '22P02'
FROM (VALUES ('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1'),
			 ('alpha=0.01 count=3 zero=1 min=0 max=9 sum=9 bins=0:1,230:1')) t(sketch),
	 (VALUES ('alpha'), ('count'), ('zero'), ('min'), ('max'), ('sum')) f(field),
	 (VALUES (''), ('x'), ('NaN'), ('Infinity'), ('-Infinity'), ('1e400'), ('-1'),
			 ('99999999999999999999'), ('-99999999999999999999')) v(val)
-- 1e20 is a fine min, max or sum.
WHERE NOT (f.field IN ('min', 'max', 'sum') AND v.val = '99999999999999999999');
INSERT INTO cases (grp, call, expected)
SELECT 'ddsketch_in', format('%L::rollout.ddsketch', 'alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=' || b), '22P02'
FROM unnest(ARRAY['x', '1', '1:', ':1', '0:0', '0:-1', '0:1,', ',0:1', '0:1,,', '0;1', '0:1 ',
				  '16777217:1', '-16777217:1', '2147483648:1', '-2147483649:1',
				  '1073741823:1', '9223372036854775808:1', '0:9223372036854775808',
				  '0:2', '0:1,1:1', '', '0:1x', '0x10:1', '0:1.5', '0:1e3']) b;
INSERT INTO cases (grp, call, expected)
SELECT 'ddsketch_in', format('%L::rollout.ddsketch', s), '22P02'
FROM unnest(ARRAY['', ' ', 'x', 'alpha', 'alpha=0.01', 'count=1 alpha=0.01',
				  'alpha=0.01 count=2 zero=0 min=1 max=2 sum=3 bins=1073741823:1,-1073741824:1',
				  'alpha=0.01 count=0 zero=0 min=0 max=0 sum=0 bins=0:9223372036854775807,1:9223372036854775807',
				  'alpha=0.01 count=1 zero=0 min=NaN max=Infinity sum=-Infinity bins=0:1',
				  'alpha=0.01 count=2 zero=0 min=2 max=1 sum=3 bins=0:2',
				  'alpha=0.01 count=0 zero=0 min=1 max=1 sum=1 bins=',
				  'alpha=0.01 count=1 zero=2 min=0 max=0 sum=0 bins=',
				  'alpha=0.01 count=4611686018427387905 zero=4611686018427387905 min=0 max=0 sum=0 bins=']) s;
INSERT INTO cases (grp, call, expected)
VALUES ('ddsketch_in', $$('alpha=0.01 count=1 ' || (SELECT mb FROM big))::rollout.ddsketch$$, '22P02'),
	   ('ddsketch_in', $$((SELECT mb FROM big) || 'alpha=0.01')::rollout.ddsketch$$, '22P02'),
	   ('ddsketch_in', $$('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=' || repeat('0:1,', 200000) || '0:1')::rollout.ddsketch$$, '22P02');

-- ddsketch functions.
INSERT INTO cases (grp, call, expected)
SELECT 'ddsketch_fn', c, e FROM (VALUES
	($$rollout.ddsketch_quantile('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', 'NaN')$$, '22003'),
	($$rollout.ddsketch_quantile('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', -0.1)$$, '22003'),
	($$rollout.ddsketch_quantile('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', 'Infinity')$$, '22003'),
	($$rollout.ddsketch_quantiles('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', ARRAY[[0.5]])$$, '2202E'),
	($$rollout.ddsketch_quantiles('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', ARRAY[0.5, NULL])$$, '22004'),
	($$rollout.ddsketch_quantiles('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', ARRAY[2])$$, '22003'),
	($$rollout.ddsketch_combine('alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', 'alpha=0.02 count=1 zero=0 min=1 max=1 sum=1 bins=0:1')$$, '22023'),
	($$rollout.ddsketch_combine('alpha=0.01 count=4611686018427387904 zero=4611686018427387904 min=0 max=0 sum=0 bins=', 'alpha=0.01 count=1 zero=1 min=0 max=0 sum=0 bins=')$$, '22003'),
	($$(SELECT rollout.ddsketch_agg(x) FROM unnest(ARRAY[1, 'NaN']::float8[]) x)$$, '22023'),
	($$(SELECT rollout.ddsketch_agg(x) FROM unnest(ARRAY[1, 'Infinity']::float8[]) x)$$, '22023'),
	($$(SELECT rollout.ddsketch_agg(x) FROM unnest(ARRAY[-1]::float8[]) x)$$, '22023'),
	($$(SELECT rollout.ddsketch_agg(x) FROM unnest(ARRAY[1e308, 1e308]::float8[]) x)$$, '22003'),
	($$(SELECT rollout.ddsketch_agg(x, 0.5) FROM unnest(ARRAY[1]::float8[]) x)$$, '22023'),
	($$(SELECT rollout.ddsketch_agg(x, 'NaN') FROM unnest(ARRAY[1]::float8[]) x)$$, '22023'),
	($$(SELECT rollout.ddsketch_merge(s) FROM unnest(ARRAY['alpha=0.01 count=1 zero=0 min=1 max=1 sum=1 bins=0:1', 'alpha=0.05 count=1 zero=0 min=1 max=1 sum=1 bins=0:1']::rollout.ddsketch[]) s)$$, '22023')
) v(c, e);

------------------------------------------------------------------------------
-- record(), record_batch() and outcome_context(): each bad value of each argument.
CREATE TEMP TABLE bad_values (arg text, val text, expected text);
INSERT INTO bad_values VALUES
	('latency_ms', '-1', '22023'), ('latency_ms', '''NaN''', '22023'), ('latency_ms', '''Infinity''', '22023'),
	('latency_ms', '''-Infinity''', '22023'), ('latency_ms', '1e13', '22003'), ('latency_ms', '1e200', '22003'),
	('latency_ms', '1.4e154', '22003'), ('latency_ms', '-1e-300', '22023'),
	('cost', '-0.01', '22023'), ('cost', '''NaN''', '22023'), ('cost', '''Infinity''', '22023'),
	('cost', '''-Infinity''', '22023'), ('cost', '1e13', '22003'), ('cost', '1e200', '22003'),
	('cost', '1.7e308', '22003'),
	('quality', '-0.1', '22003'), ('quality', '1.5', '22003'), ('quality', '''NaN''', '22003'),
	('quality', '''Infinity''', '22003'), ('quality', '''-Infinity''', '22003'), ('quality', '1e300', '22003'),
	('metrics', '''[]''', '22023'), ('metrics', '''3''', '22023'), ('metrics', '''"x"''', '22023'),
	('metrics', '''null''', '22023'), ('metrics', '''true''', '22023'),
	('metrics', '''{"k": "x"}''', '22023'), ('metrics', '''{"k": true}''', '22023'),
	('metrics', '''{"k": null}''', '22023'), ('metrics', '''{"k": {}}''', '22023'),
	('metrics', '''{"k": [1]}''', '22023'), ('metrics', '''{"k": 1e400}''', '22003'),
	('metrics', '''{"k": -1e400}''', '22003'), ('metrics', '''{"k": 1e13}''', '22003'),
	('metrics', '''{"a": 1, "k": -1e13}''', '22003'),
	('metrics', '(SELECT jsonb_object_agg(''k'' || i, i) FROM generate_series(1, 65) i)', '54000'),
	('metrics', '(SELECT jsonb_object_agg(''k'' || i, i) FROM generate_series(1, 1000000) i)', '54000'),
	('metrics', 'jsonb_build_object(repeat(''k'', 65), 1)', '54000'),
	('metrics', 'jsonb_build_object((SELECT mb FROM big), 1)', '54000'),
	('at', '''infinity''', '22023'), ('at', '''-infinity''', '22023'),
	('unit', 'repeat(''u'', 1025)', '22001'), ('unit', '(SELECT mb FROM big)', '22001'),
	('version', 'NULL', '22004'), ('version', '0', '42704'), ('version', '-1', '42704'),
	('version', '99', '42704'), ('version', '2147483647', '42704'), ('version', '-2147483648', '42704'),
	('agent', 'NULL', '22004'), ('agent', '''''', '42602'), ('agent', '''Bad Name''', '42602'),
	('agent', '''-x''', '42602'), ('agent', 'E''a\tb''', '42602'), ('agent', '''nobody''', '42704'),
	('agent', 'repeat(''a'', 64)', '42622'), ('agent', '(SELECT mb FROM big)', '42622'),
	('agent', 'U&''\00E9t\00E9''', '42602'), ('agent', '''c-bot; DROP TABLE x''', '42602'),
	-- decision tokens: malformed (22P02); too long, forged or altered (22023).
	('decision_token', '''garbage''', '22P02'), ('decision_token', '''''', '22P02'),
	('decision_token', '''d1.''', '22P02'), ('decision_token', '''1.1.1.1.abc''', '22P02'),
	('decision_token', '''d1.0.0.1.stable.'' || repeat(''0'', 32)', '22P02'),
	('decision_token', '''d1.1.1.1..'' || repeat(''0'', 32)', '22P02'),
	('decision_token', '''d1.99999999999999999999.1.1.stable.'' || repeat(''0'', 32)', '22P02'),
	('decision_token', '''d1.1.1.1.stable.'' || repeat(''G'', 32)', '22P02'),
	('decision_token', '''d1.-1.1.1.stable.'' || repeat(''0'', 32)', '22P02'),
	('decision_token', 'repeat(''d'', 257)', '22023'), ('decision_token', '(SELECT mb FROM big)', '22023'),
	('decision_token', '''d1.0.0.1..'' || repeat(''0'', 32)', '22023'),
	('decision_token', '''d1.1.1.1.stable.'' || repeat(''a'', 32)', '22023'),
	('decision_token', 'replace((rollout.route(''c-bot'', ''u'')).decision_token, ''d1.0.0.1.'', ''d1.0.0.2.'')', '22023');

INSERT INTO cases (grp, call, expected)
SELECT 'record', format('rollout.record(%s, %s)',
		CASE WHEN b.arg = 'agent' THEN b.val ELSE '''c-bot''' END,
		CASE WHEN b.arg = 'version' THEN b.val ELSE '1' END
		|| CASE WHEN b.arg IN ('agent', 'version') THEN '' ELSE format(', %s => %s', b.arg, b.val) END),
	   b.expected
FROM bad_values b;

-- The same values as one row of a batch (the quality scale error and the
-- NULL version are the batch's own).
INSERT INTO cases (grp, call, expected)
SELECT 'record_batch', format('rollout.record_batch(%s, %s%s)',
		CASE WHEN b.arg = 'agent' THEN b.val ELSE '''c-bot''' END,
		CASE WHEN b.arg = 'version' AND b.val = 'NULL' THEN 'ARRAY[1, NULL]::integer[]'
			 WHEN b.arg = 'version' THEN format('ARRAY[1, %s]::integer[]', b.val) ELSE 'ARRAY[1, 1]' END,
		CASE b.arg
			WHEN 'latency_ms' THEN format(', latencies_ms => ARRAY[1, %s]::float8[]', b.val)
			WHEN 'cost' THEN format(', costs => ARRAY[1, %s]::float8[]', b.val)
			WHEN 'quality' THEN format(', qualities => ARRAY[0.5, %s]::float8[]', b.val)
			WHEN 'metrics' THEN format(', metrics => ARRAY[''{}'', %s]::jsonb[]', b.val)
			WHEN 'at' THEN format(', ats => ARRAY[now(), %s]::timestamptz[]', b.val)
			WHEN 'unit' THEN format(', units => ARRAY[''u'', %s]', b.val)
			WHEN 'decision_token' THEN format(', decision_tokens => ARRAY[NULL, %s]::text[]', b.val)
			ELSE '' END),
	   b.expected
FROM bad_values b
WHERE NOT (b.arg = 'agent' AND b.val = 'NULL');
INSERT INTO cases (grp, call, expected)
SELECT 'record_batch', format('rollout.record_batch(''c-bot'', ARRAY[1, 1], %s => %s)', a, v), e
FROM (VALUES ('units', 'ARRAY[''u'']', '2202E'), ('successes', 'ARRAY[true, true, true]', '2202E'),
			 ('qualities', 'ARRAY[0.5]::float8[]', '2202E'), ('latencies_ms', 'ARRAY[]::float8[]', '2202E'),
			 ('costs', 'ARRAY[1, 2, 3]::float8[]', '2202E'), ('errors', 'ARRAY[true]', '2202E'),
			 ('safety_flags', 'ARRAY[false]', '2202E'), ('feedbacks', 'ARRAY[1]::smallint[]', '2202E'),
			 ('metrics', 'ARRAY[''{}'']::jsonb[]', '2202E'), ('shadows', 'ARRAY[true]', '2202E'),
			 ('ats', 'ARRAY[now()]', '2202E'),
			 ('units', 'ARRAY[[''u'', ''v'']]', '2202E'), ('successes', 'ARRAY[[true, true]]', '2202E'),
			 ('qualities', 'ARRAY[[0.5, 0.5]]::float8[]', '2202E'), ('latencies_ms', 'ARRAY[[1, 1]]::float8[]', '2202E'),
			 ('costs', 'ARRAY[[1, 1]]::float8[]', '2202E'), ('errors', 'ARRAY[[true, true]]', '2202E'),
			 ('safety_flags', 'ARRAY[[false, false]]', '2202E'), ('feedbacks', 'ARRAY[[1, 1]]::smallint[]', '2202E'),
			 ('metrics', 'ARRAY[[''{}'', ''{}'']]::jsonb[]', '2202E'), ('shadows', 'ARRAY[[true, true]]', '2202E'),
			 ('ats', 'ARRAY[[now(), now()]]', '2202E'),
			 ('decision_tokens', 'ARRAY[NULL]::text[]', '2202E'),
			 ('decision_tokens', 'ARRAY[[NULL, NULL]]::text[]', '2202E')) x(a, v, e);
-- A good token of another version, and a token of another agent.
INSERT INTO cases (grp, call, expected) VALUES
	('record', 'rollout.record(''c-bot'', 2, decision_token => (rollout.route(''c-bot'', ''u'')).decision_token)', '22023'),
	('record', 'rollout.record(''c-bot'', 1, decision_token => (rollout.route(''other-bot'', ''u'')).decision_token)', '22023'),
	('record_batch', 'rollout.record_batch(''c-bot'', ARRAY[1, 2], decision_tokens => ARRAY[NULL, (rollout.route(''c-bot'', ''u'')).decision_token])', '22023');
INSERT INTO cases (grp, call, expected) VALUES
	('record_batch', 'rollout.record_batch(''c-bot'', NULL)', '22004'),
	('record_batch', 'rollout.record_batch(''c-bot'', ARRAY[[1, 1], [1, 1]])', '2202E'),
	('record_batch', 'rollout.record_batch(''c-bot'', ARRAY[1, 1], feedbacks => ARRAY[1, 40000]::smallint[])', '22003');

INSERT INTO cases (grp, call, expected)
SELECT 'outcome_context', format('rollout.outcome_context(%s, %s%s)',
		CASE WHEN b.arg = 'agent' THEN b.val ELSE '''c-bot''' END,
		CASE WHEN b.arg = 'version' THEN b.val ELSE '1' END,
		CASE WHEN b.arg = 'at' THEN ', ' || b.val ELSE '' END),
	   b.expected
FROM bad_values b WHERE b.arg IN ('agent', 'version', 'at');

-- record_shadow_pair().
INSERT INTO cases (grp, call, expected)
SELECT 'record_shadow_pair', format('rollout.record_shadow_pair(''c-bot'', 1, 2, %s => %s)', a.arg, b.val),
	   b.expected
FROM unnest(ARRAY['production_latency_ms', 'shadow_latency_ms', 'production_cost', 'shadow_cost']) a(arg),
	 (SELECT val, expected FROM bad_values WHERE arg = 'latency_ms') b;
INSERT INTO cases (grp, call, expected)
SELECT 'record_shadow_pair', format('rollout.record_shadow_pair(''c-bot'', 1, 2, decision_token => %s)', b.val),
	   b.expected
FROM bad_values b WHERE b.arg = 'decision_token';
INSERT INTO cases (grp, call, expected)
SELECT 'record_shadow_pair', 'rollout.record_shadow_pair(''c-bot'', ' || c, e FROM (VALUES
	('NULL, 2)', '22004'), ('1, NULL)', '22004'), ('1, 99)', '42704'), ('99, 1)', '42704'),
	('1, 2, similarity => 1.5)', '22003'), ('1, 2, similarity => -2)', '22003'),
	('1, 2, similarity => ''NaN'')', '22003'),
	('1, 2, production_embedding => ARRAY[1, 2]::float4[])', '22023'),
	('1, 2, production_embedding => ARRAY[1, 2]::float4[], shadow_embedding => ARRAY[1, 2, 3]::float4[])', '22023'),
	('1, 2, production_embedding => ARRAY[0, 0]::float4[], shadow_embedding => ARRAY[1, 1]::float4[])', '22023'),
	('1, 2, production_embedding => ARRAY[1, NULL]::float4[], shadow_embedding => ARRAY[1, 1]::float4[])', '22004'),
	('1, 2, production_embedding => ARRAY[[1, 1]]::float4[], shadow_embedding => ARRAY[[1, 1]]::float4[])', '22023'),
	('1, 2, production_embedding => ARRAY[1, ''NaN'']::float4[], shadow_embedding => ARRAY[1, 1]::float4[])', '22023'),
	('1, 2, similarity => 0.5, production_embedding => ARRAY[1]::float4[], shadow_embedding => ARRAY[1]::float4[])', '22023'),
	('1, 2, unit => repeat(''u'', 1025))', '22001'),
	('1, 2, at => ''infinity'')', '22023')) v(c, e);

------------------------------------------------------------------------------
-- Lifecycle functions: bad agents, infinite times, the wrong state ("c-bot"
-- has no rollout), bad plans, blank reasons.
INSERT INTO cases (grp, call, expected)
SELECT 'lifecycle', format('rollout.%s(%s)', f, a), e
FROM unnest(ARRAY['pause', 'resume', 'approve', 'promote', 'rollback', 'retry']) f,
	 (VALUES ('NULL', '22004'), ('''''', '42602'), ('''Bad Name''', '42602'),
			 ('''nobody''', '42704'), ('repeat(''a'', 64)', '42622'), ('(SELECT mb FROM big)', '42622'),
			 ('''c-bot''', '55000'), ('''c-bot'', at => ''infinity''', '22023'),
			 ('''c-bot'', at => ''-infinity''', '22023'),
			 ('''c-bot'', reason => (SELECT mb FROM big), at => ''infinity''', '22023')) x(a, e);
-- Blue-green verbs: bad agents, infinite times, no active rollout.
INSERT INTO cases (grp, call, expected)
SELECT 'lifecycle', format('rollout.%s(%s)', f, a), e
FROM unnest(ARRAY['switch', 'switch_back']) f,
	 (VALUES ('NULL', '22004'), ('''Bad Name''', '42602'), ('''nobody''', '42704'),
			 ('(SELECT mb FROM big)', '42622'), ('''c-bot''', '55000'),
			 ('''c-bot'', at => ''infinity''', '22023'),
			 ('''c-bot'', reason => (SELECT mb FROM big)', '55000')) x(a, e);
-- promote(variant => ...) with no active rollout: the state is checked first.
INSERT INTO cases (grp, call, expected) VALUES
	('lifecycle', 'rollout.promote(''c-bot'', variant => ''a'')', '55000'),
	('lifecycle', 'rollout.promote(''c-bot'', variant => (SELECT mb FROM big))', '55000');
INSERT INTO cases (grp, call, expected)
SELECT 'start', format('rollout.start(%s)', a), e FROM (VALUES
	('NULL, 2', '22004'), ('''c-bot'', NULL', '22004'), ('''nobody'', 2', '42704'),
	('''Bad Name'', 2', '42602'), ('(SELECT mb FROM big), 2', '42622'),
	('''c-bot'', 99', '42704'), ('''c-bot'', -1', '42704'), ('''c-bot'', 1', '22023'),
	('''c-bot'', 2, at => ''infinity''', '22023'), ('''c-bot'', 2, at => ''-infinity''', '22023'),
	('''c-bot'', 2, risk => ''extreme''', '22023'), ('''c-bot'', 2, risk => (SELECT mb FROM big)', '22023'),
	('''c-bot'', 2, risk => NULL', '22004')) v(a, e);
-- Bad plans: each is refused by the C parser with the JSON path.
INSERT INTO cases (grp, call, expected)
SELECT 'plan', format('rollout.start(''c-bot'', 2, %L)', p),
	   -- numbers jansson cannot hold and unreadable intervals are 22P02
	   CASE WHEN p ~ '1e400|"bake": "(x|infinity)"|"evaluation_interval": "x"' THEN '22P02' ELSE '22023' END
FROM unnest(ARRAY[
	'[]', '1', '"x"', 'true', '{"strategi": "canary"}', '{"strategy": "x"}', '{"strategy": 1}',
	'{"steps": 1}', '{"steps": []}', '{"steps": [1]}', '{"steps": [{}]}',
	'{"steps": [{"percent": -1}, {"percent": 100}]}', '{"steps": [{"percent": 101}]}',
	'{"steps": [{"percent": 1e400}, {"percent": 100}]}', '{"steps": [{"percent": "5"}, {"percent": 100}]}',
	'{"steps": [{"percent": 50}, {"percent": 20}, {"percent": 100}]}',
	'{"steps": [{"percent": 5.001}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "bake": "x"}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "bake": 1}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "bake": "-1 hour"}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "bake": "infinity"}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "min_samples": -1}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "min_samples": 1e400}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "min_samples": 0.5}, {"percent": 100}]}',
	'{"steps": [{"percent": 5, "extra": 1}, {"percent": 100}]}',
	'{"stickiness": "x"}', '{"judge_rate": 2}', '{"judge_rate": -1}', '{"judge_rate": "x"}',
	'{"evaluation_interval": "x"}', '{"evaluation_interval": "-5 minutes"}',
	'{"gates": 1}', '{"gates": [1]}', '{"gates": [{}]}',
	'{"gates": [{"name": "q", "metric": "qualty", "comparison": "mean", "margin": 0.1, "action": "hold"}]}',
	'{"gates": [{"name": "q", "metric": "quality", "comparison": "x", "margin": 0.1, "action": "hold"}]}',
	'{"gates": [{"name": "q", "metric": "quality", "comparison": "mean", "margin": 1e400, "action": "hold"}]}',
	'{"gates": [{"name": "q", "metric": "quality", "comparison": "mean", "margin": 0.1, "action": "x"}]}',
	'{"gates": [{"name": "q", "metric": "quality", "comparison": "mean", "margin": 0.1, "action": "hold", "min_samples": -5}]}',
	'{"strategy": "ab_test"}', '{"strategy": "ab_test", "variants": []}',
	'{"strategy": "ab_test", "variants": [{"name": "stable", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}]}',
	'{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "a", "version": 2, "weight": 50}]}',
	'{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}], "experiment": {"control": "z"}}',
	'{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 2, "weight": 50}], "experiment": {"control": 1}}',
	'{"shadow": {"pair_grace": "0 seconds"}}', '{"shadow": {"pair_grace": "-1 hour"}}',
	'{"rules": [{"tenants": ["x"], "percent": 10, "arm": "stable"}]}', '{"rules": [{"tenants": ["x"], "arm": 1}]}',
	'{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 60}, {"name": "b", "version": 2, "weight": 50}]}',
	'{"strategy": "ab_test", "variants": [{"name": "a", "version": 1, "weight": 50}, {"name": "b", "version": 1e400, "weight": 50}]}',
	'{"rules": 1}', '{"rules": [{"tenants": "x", "percent": 100}]}', '{"rules": [{"tenants": ["a"], "percent": 1e400}]}',
	'{"flags": [{"name": "f", "percent": 1e400}]}', '{"flags": [{"name": "f", "percent": -1}]}', '{"flags": [{"percent": 5}]}',
	'{"shadow": {"percent": 200}}', '{"shadow": 1}', '{"blackout": 1}', '{"blackout": [{"x": 1}]}']) p;
INSERT INTO cases (grp, call, expected) VALUES
	('plan', $$rollout.start('c-bot', 2, (repeat('[', 5000) || repeat(']', 5000))::jsonb)$$, '22P02'),
	('plan', $$rollout.start('c-bot', 2, (repeat('{"a":', 5000) || '1' || repeat('}', 5000))::jsonb)$$, '22P02'),
	('plan', $$rollout.start('c-bot', 2, (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 10000) i))$$, '22023'),
	('plan', $$rollout.start('c-bot', 2, jsonb_build_object('steps', (SELECT mb FROM big)))$$, '22023'),
	('plan', $$rollout.validate_plan('{"strategi": 1}')$$, '22023'),
	('plan', $$rollout.validate_plan('{}', 'extreme')$$, '22023'),
	('plan', $$rollout.validate_plan('{}', NULL)$$, '22004');
INSERT INTO cases (grp, call, expected)
SELECT 'deploy_now', format('rollout.deploy_now(%s)', a), e FROM (VALUES
	('''c-bot'', 2, NULL', '22004'), ('''c-bot'', 2, ''''', '22004'), ('''c-bot'', 2, E'' \t\n''', '22004'),
	('''c-bot'', 2, U&''\00A0''', '22004'), ('''c-bot'', 2, U&''\3000\2003''', '22004'),
	('''c-bot'', 2, U&''\FEFF\2028''', '22004'), ('''c-bot'', NULL, ''x''', '22004'),
	('''c-bot'', 99, ''x''', '42704'), ('''nobody'', 2, ''x''', '42704'), ('NULL, 2, ''x''', '22004'),
	('''c-bot'', 2, ''x'', at => ''infinity''', '22023'), ('''c-bot'', 2, ''x'', at => ''-infinity''', '22023')) v(a, e);
INSERT INTO cases (grp, call, expected) VALUES
	('tick', $$rollout.tick('infinity')$$, '22023'),
	('tick', $$rollout.tick('-infinity')$$, '22023');

------------------------------------------------------------------------------
-- Registry and routing.
INSERT INTO cases (grp, call, expected)
SELECT 'registry', c, e FROM (VALUES
	('rollout.create_agent(NULL)', '22004'), ('rollout.create_agent('''')', '42602'),
	('rollout.create_agent(''Bad Name'')', '42602'), ('rollout.create_agent(repeat(''a'', 64))', '42622'),
	('rollout.create_agent((SELECT mb FROM big))', '42622'), ('rollout.create_agent(''c-bot'')', '42710'),
	('rollout.create_agent(''new-bot'', (SELECT mb FROM big))', '22001'),
	('rollout.create_version(''nobody'', ''x'', ''gpt-4o-2024-08-06'')', '42704'),
	('rollout.create_version(NULL, ''x'', ''gpt-4o-2024-08-06'')', '22004'),
	('rollout.create_version(''c-bot'', ''x'', ''m'')', '22023'),
	('rollout.create_version(''c-bot'', ''x'', NULL)', '22004'),
	('rollout.create_version(''c-bot'', ''x'', '''')', '22004'),
	('rollout.create_version(''c-bot'', ''x'', ''m'', few_shot => ''{}'')', '22023'),
	('rollout.create_version(''c-bot'', ''x'', ''m'', tools => ''1'')', '22023'),
	('rollout.create_version(''c-bot'', ''x'', ''m'', params => ''[]'')', '22023'),
	('rollout.create_version(''c-bot'', repeat(''x'', 1048577), ''m'')', '54000'),
	('rollout.set_label(''c-bot'', ''production'', 99)', '42704'),
	('rollout.set_label(''c-bot'', ''production'', NULL)', '22004'),
	('rollout.set_label(''c-bot'', NULL, 1)', '22004'),
	('rollout.set_label(''c-bot'', ''Bad Label'', 1)', '42602'),
	('rollout.set_label(''nobody'', ''production'', 1)', '42704'),
	('rollout.get_version(''c-bot'', ''nope'')', '42704'),
	('rollout.get_version(''c-bot'', NULL)', '22004'),
	('rollout.get_version(''c-bot'', ''99'')', '42704'),
	('rollout.get_version(''c-bot'', (SELECT mb FROM big))', '42704'),
	('rollout.get_version(''nobody'')', '42704'),
	('rollout.diff(''c-bot'', 1, 99)', '42704'),
	('rollout.diff(''c-bot'', NULL, 1)', '22004'),
	('rollout.route(NULL, ''u'')', '22004'),
	('rollout.route(''nobody'', ''u'')', '42704'),
	('rollout.route((SELECT mb FROM big), ''u'')', '42704'),
	('rollout.route(''c-bot'', ''u'', attrs => ''[]'')', '22023'),
	('rollout.route(''c-bot'', ''u'', attrs => ''1'')', '22023')) v(c, e);

-- Standalone capability flags.
INSERT INTO cases (grp, call, expected)
SELECT 'flags', c, e FROM (VALUES
	('rollout.set_flag(NULL, ''f'', 1)', '22004'),
	('rollout.set_flag(''nobody'', ''f'', 1)', '42704'),
	('rollout.set_flag((SELECT mb FROM big), ''f'', 1)', '42622'),
	('rollout.set_flag(''c-bot'', NULL, 1)', '22004'),
	('rollout.set_flag(''c-bot'', ''Bad Flag'', 1)', '22023'),
	('rollout.set_flag(''c-bot'', '''', 1)', '22023'),
	('rollout.set_flag(''c-bot'', (SELECT mb FROM big), 1)', '22023'),
	('rollout.set_flag(''c-bot'', ''f'', NULL)', '22004'),
	('rollout.set_flag(''c-bot'', ''f'', ''NaN'')', '22023'),
	('rollout.set_flag(''c-bot'', ''f'', ''Infinity'')', '22023'),
	('rollout.set_flag(''c-bot'', ''f'', 1e300)', '22023'),
	('rollout.set_flag(''c-bot'', ''f'', -0.01)', '22023'),
	('rollout.set_flag(''c-bot'', ''f'', 0.001)', '22023'),
	('rollout.remove_flag(''c-bot'', ''f'')', '42704'),
	('rollout.remove_flag(''c-bot'', NULL)', '22004'),
	('rollout.remove_flag(NULL, ''f'')', '22004')) v(c, e);

------------------------------------------------------------------------------
-- Statistics (the module raises 22023 for every argument outside its domain).
INSERT INTO cases (grp, call, expected)
SELECT 'stats', c, e FROM (VALUES
	('rollout.proportion_test(-1, 10, 5, 10)', '22023'), ('rollout.proportion_test(11, 10, 5, 10)', '22023'),
	('rollout.proportion_test(1, 0, 5, 10)', '22023'), ('rollout.proportion_test(1, 10, 5, -10)', '22023'),
	('rollout.proportion_test(1, 10, 5, 10, margin => ''NaN'')', '22023'),
	('rollout.proportion_test(1, 10, 5, 10, margin => 2)', '22023'),
	('rollout.proportion_test(1, 10, 5, 10, alternative => ''x'')', '22023'),
	('rollout.proportion_test(1, 10, 5, 10, method => ''x'')', '22023'),
	('rollout.mann_whitney(ARRAY[]::float8[], ARRAY[1]::float8[])', '22023'),
	('rollout.mann_whitney(ARRAY[1, NULL]::float8[], ARRAY[1]::float8[])', '22004'),
	('rollout.mann_whitney(ARRAY[1, ''NaN'']::float8[], ARRAY[1]::float8[])', '22023'),
	('rollout.mann_whitney(ARRAY[[1, 2]]::float8[], ARRAY[1]::float8[])', '2202E'),
	('rollout.mann_whitney(ARRAY[1]::float8[], ARRAY[1]::float8[], alternative => ''x'')', '22023'),
	('rollout.mann_whitney(ARRAY[1]::float8[], ARRAY[1]::float8[], method => ''x'')', '22023'),
	('rollout.welch_test(1, -1, 10, 1, 1, 10)', '22023'), ('rollout.welch_test(1, 1, 1, 1, 1, 10)', '22023'),
	('rollout.welch_test(''NaN'', 1, 10, 1, 1, 10)', '22023'), ('rollout.welch_test(1, ''Infinity'', 10, 1, 1, 10)', '22023'),
	('rollout.welch_test(1, 1, 10, 1, 1, 10, alternative => ''x'')', '22023'),
	('rollout.srm_test(ARRAY[1, 2], ARRAY[1]::float8[])', '22023'),
	('rollout.srm_test(ARRAY[-1, 2], ARRAY[1, 1]::float8[])', '22023'),
	('rollout.srm_test(ARRAY[1, 2], ARRAY[-1, 1]::float8[])', '22023'),
	('rollout.srm_test(ARRAY[1, NULL], ARRAY[1, 1]::float8[])', '22004'),
	('rollout.srm_test(ARRAY[[1, 2]], ARRAY[[1, 1]]::float8[])', '2202E'),
	('rollout.sample_size_proportions(''NaN'', 0.5)', '22023'),
	('rollout.sample_size_proportions(0.4, 0.5, alpha => 0)', '22023'),
	('rollout.sample_size_proportions(0.4, 0.5, power => 1)', '22023'),
	('rollout.sample_size_proportions(0.4, 0.5, alternative => ''x'')', '22023'),
	('rollout.sequential_test(0.1, -1, 100)', '22023'), ('rollout.sequential_test(''NaN'', 1, 100)', '22023'),
	('rollout.sequential_test(0.1, 1, 100, alpha => 2)', '22023'),
	('rollout.sequential_test(0.1, 1, 100, alternative => ''x'')', '22023'),
	('rollout.cosine_similarity(ARRAY[1]::float4[], ARRAY[1, 2]::float4[])', '22023'),
	('rollout.cosine_similarity(ARRAY[]::float4[], ARRAY[]::float4[])', '22023')) v(c, e);

------------------------------------------------------------------------------
-- Run every case in its own subtransaction; nothing may be half-applied.

CREATE TEMP TABLE snapshot_before AS
SELECT c.relname, (xpath('/row/h/text()',
		query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) AS h FROM rollout.%I t', c.relname),
					 false, false, '')))[1]::text AS h
FROM pg_class c
WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'p');

DO $$
DECLARE
	c record;
	s text;
	m text;
BEGIN
	FOR c IN SELECT * FROM cases ORDER BY id LOOP
		BEGIN
			EXECUTE 'SELECT ' || c.call;
			UPDATE cases SET got = 'no error' WHERE id = c.id;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT;
			UPDATE cases SET got = s, msg = m WHERE id = c.id;
		END;
	END LOOP;
END
$$;

SELECT count(*) >= 500 AS at_least_500, count(DISTINCT grp) AS groups FROM cases;
SELECT grp, count(*) AS cases FROM cases GROUP BY grp ORDER BY grp;
-- Cases by SQLSTATE.
SELECT got AS sqlstate, count(*) AS cases FROM cases GROUP BY got ORDER BY got;
-- Every case raised the SQLSTATE it names.
SELECT id, grp, left(call, 100) AS call, expected, got, left(msg, 120) AS msg
FROM cases WHERE got IS DISTINCT FROM expected ORDER BY id;
-- No message echoes more than about 100 bytes of its input.
SELECT id, grp, left(call, 60) AS call, octet_length(msg) AS msg_bytes
FROM cases WHERE octet_length(msg) > 400 ORDER BY id;
-- Nothing half-applied: every table holds what it held before.
SELECT b.relname, b.h = a.h AS unchanged
FROM snapshot_before b
JOIN (SELECT c.relname, (xpath('/row/h/text()',
		query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) AS h FROM rollout.%I t', c.relname),
					 false, false, '')))[1]::text AS h
	  FROM pg_class c
	  WHERE c.relnamespace = 'rollout'::regnamespace AND c.relkind IN ('r', 'p')) a USING (relname)
WHERE b.h IS DISTINCT FROM a.h;
SELECT count(*) AS rollouts, (SELECT count(*) FROM rollout.events) AS events FROM rollout.rollouts;
