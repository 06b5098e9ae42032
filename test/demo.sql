-- pg_rollout demo: what `make demo` runs against a throwaway instance.
\pset footer off
\echo
\echo '== pg_rollout demo =========================================================='
\echo
\echo '1. A team registers its support agent and its first version.'
SELECT rollout.create_agent('support-bot', 'Answers customer tickets') AS agent_id \gset
SELECT rollout.create_version('support-bot',
         system_prompt => 'You are a helpful support agent. Cite the knowledge base.',
         model => 'gpt-4o-2024-08-06',
         tools => '[{"name": "search_kb"}, {"name": "create_ticket"}]',
         params => '{"temperature": 0.2}',
         note => 'first release') AS v1 \gset
\echo '   created agent support-bot and version' :v1
SELECT rollout.set_label('support-bot', 'production', :v1, 'initial release') AS done \gset
\echo '   version' :v1 'is now labelled production'
\echo
\echo '2. Someone edits the prompt. Versions are immutable; the edit is version 2.'
SELECT rollout.create_version('support-bot',
         system_prompt => 'You are a concise support agent. Cite the knowledge base. Answer in at most five sentences.',
         model => 'gpt-4o-2024-08-06',
         tools => '[{"name": "search_kb"}, {"name": "create_ticket"}]',
         params => '{"temperature": 0.2}',
         note => 'shorter answers') AS v2 \gset
\echo '   created version' :v2
\echo '   Submitting the same content again returns the same number (same fingerprint):'
SELECT rollout.create_version('support-bot',
         system_prompt => 'You are a concise support agent. Cite the knowledge base. Answer in at most five sentences.',
         model => 'gpt-4o-2024-08-06',
         tools => '[{"name": "search_kb"}, {"name": "create_ticket"}]',
         params => '{"temperature": 0.2}') AS again \gset
\echo '   ->' :again
\echo
\echo '3. What changed between version 1 and 2:'
SELECT field, value_a AS "version 1", value_b AS "version 2" FROM rollout.diff('support-bot', 1, 2);
\echo
\echo '4. A floating model id is refused: the provider could change it under us.'
\set ON_ERROR_STOP 0
\set VERBOSITY default
SELECT rollout.create_version('support-bot', 'Same prompt', 'gpt-4o-latest');
\set ON_ERROR_STOP 1
\echo
\echo '5. Each version carries a fingerprint (hex SHA-256 of its canonical content):'
SELECT version, left(fingerprint, 16) || '...' AS fingerprint, model, note FROM rollout.versions ORDER BY version;
\echo
\echo '6. Version 2 goes to staging, then production; labels keep their history.'
SELECT rollout.set_label('support-bot', 'staging', :v2) AS done \gset
SELECT rollout.set_label('support-bot', 'production', :v2, 'reviewed shorter answers') AS done \gset
SELECT label, old_version AS "from", new_version AS "to", reason FROM rollout.label_history ORDER BY id;
\echo
\echo '7. Routing outside a rollout serves production:'
SELECT version, model, note FROM rollout.get_version('support-bot');
\echo
\echo '8. The audit trail: every change, who made it, and what it was before.'
SELECT id, action, actor, coalesce(old - 'fingerprint', '{}') AS before, new - 'fingerprint' - 'code_ref' AS after, reason FROM rollout.events ORDER BY id;
\echo
\echo '== Part 2: a rollout that the statistics promote ============================'
\echo
\echo 'Version 3 tightens the citations. It is rolled out on the "low" risk preset, exactly'
\echo 'as shipped: 1% for 4 hours -> 5% for 8 hours -> 25% for 4 hours -> 100%, with the default gates (success,'
\echo 'quality, error rate, median cost, safety flags, p95 latency; docs/plans.md).'
\echo 'Simulated traffic: 12 000 requests an hour through rollout.route(), one rollout.record()'
\echo 'per request (1% errors and 0.1% safety flags in both versions, as healthy traffic has),'
\echo 'and rollout.tick() every 5 simulated minutes (the worker does this for real).'
SELECT rollout.create_version('support-bot',
         system_prompt => 'You are a concise support agent. Cite the knowledge base with article ids. Answer in at most five sentences.',
         model => 'gpt-4o-2024-08-06',
         tools => '[{"name": "search_kb"}, {"name": "create_ticket"}]',
         params => '{"temperature": 0.2}',
         note => 'article ids in citations') AS v3 \gset

-- The traffic simulator: each request is routed, served, and its outcome
-- recorded with the decision_token of its decision, so it counts for the
-- rollout, stage and arm that served it even when tick() moved on meanwhile.
CREATE PROCEDURE pg_temp.traffic(p_start timestamptz, p_hours integer, p_rates jsonb,
								  p_errors jsonb DEFAULT '{}', p_first_slot integer DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
	v_at timestamptz;
	d record;
	v_ok boolean;
	v_good float8;
	v_err float8;
BEGIN
	FOR slot IN 0 .. p_hours * 12 - 1 LOOP
		v_at := p_start + make_interval(mins => slot * 5);
		FOR i IN 1 .. 1000 LOOP
			SELECT * INTO d FROM rollout.route('support-bot', 'user-' || ((p_first_slot + slot) * 1000 + i));
			v_good := coalesce((p_rates->>d.version::text)::float8, 0.90);
			v_err := coalesce((p_errors->>d.version::text)::float8, 0.01);
			v_ok := random() < v_good;
			PERFORM rollout.record('support-bot', d.version, 'user-' || ((p_first_slot + slot) * 1000 + i),
				success => v_ok,
				quality => least(1, greatest(0, (CASE WHEN v_ok THEN 0.8 ELSE 0.4 END) + (random() - 0.5) * 0.3)),
				latency_ms => 800 + random() * 1200,
				cost => 0.002 + random() * 0.002,
				error => random() < v_err,
				safety_flag => random() < 0.001,
				at => v_at + make_interval(secs => i * 0.29),
				decision_token => d.decision_token);
		END LOOP;
		COMMIT;
		PERFORM rollout.tick(v_at + interval '5 minutes');
		COMMIT;
	END LOOP;
END
$$;
SELECT setseed(0.2026);
SELECT rollout.start('support-bot', :v3, risk => 'low', reason => 'citations with article ids',
                     at => '2026-03-02 08:00+00') AS rollout_good \gset
CALL pg_temp.traffic('2026-03-02 08:00+00', 1, '{"2": 0.90, "3": 0.90}');
\echo
\echo 'An hour in, rollout.status says what the rollout is waiting for (waiting_for):'
SELECT state, percent || '%' AS share, samples_candidate AS candidate, waiting_for FROM rollout.status
 WHERE agent = 'support-bot';
CALL pg_temp.traffic('2026-03-02 09:00+00', 16, '{"2": 0.90, "3": 0.90}', p_first_slot => 12);
\echo
\echo 'Timeline of rollout' :rollout_good '(simulated clock), from rollout.timeline(agent, rollout_id):'
\echo 'events, gate verdicts that changed and stage boundaries, in order.'
SELECT to_char(at AT TIME ZONE 'UTC', 'Dy HH24:MI') AS "when", state, share || '%' AS share, description
  FROM rollout.timeline('support-bot', :rollout_good);
\echo
\echo 'Each stage: how long it baked and what the gates said at the end:'
SELECT stage, percent || '%' AS share, ended_at - started_at AS baked, outcome,
       (SELECT string_agg(k || ' ' || v, ', ' ORDER BY k) FROM jsonb_each_text(verdicts) AS e(k, v)) AS verdicts
  FROM rollout.stages WHERE rollout_id = :rollout_good ORDER BY stage;
\echo
\echo 'Production now serves:'
SELECT version, note FROM rollout.get_version('support-bot');

\echo
\echo '== Part 3: a quiet regression, rolled back with no person in the loop ======'
\echo
\echo 'Version 4 changes the model. Its answers still return HTTP 200, but its tool calls'
\echo 'fail: the error rate goes from 1% to 10% and task success drops from 0.90 to 0.86.'
\echo 'It is started on the same "low" preset, and nobody is watching.'
SELECT rollout.create_version('support-bot',
         system_prompt => 'You are a concise support agent. Cite the knowledge base with article ids. Answer in at most five sentences.',
         model => 'gpt-4o-mini-2024-07-18',
         tools => '[{"name": "search_kb"}, {"name": "create_ticket"}]',
         params => '{"temperature": 0.2}',
         note => 'cheaper model') AS v4 \gset
SELECT rollout.start('support-bot', :v4, risk => 'low', reason => 'cheaper model',
                     at => '2026-03-04 08:00+00') AS rollout_bad \gset
CALL pg_temp.traffic('2026-03-04 08:00+00', 2, '{"3": 0.90, "4": 0.86}', '{"4": 0.10}');
\echo
\echo 'Timeline of rollout' :rollout_bad ':'
SELECT to_char(at AT TIME ZONE 'UTC', 'Dy HH24:MI') AS "when", state, share || '%' AS share, description
  FROM rollout.timeline('support-bot', :rollout_bad);
\echo
\echo 'The verdict that rolled it back:'
SELECT to_char(at AT TIME ZONE 'UTC', 'Dy HH24:MI') AS "when", gate, verdict,
       round(value_candidate::numeric, 3) AS candidate, round(value_baseline::numeric, 3) AS baseline,
       n_candidate, n_baseline, to_char(p_value, '9.99EEEE') AS p_value, detail
  FROM rollout.gate_results WHERE rollout_id = :rollout_bad AND verdict = 'fail' ORDER BY id LIMIT 1;
\echo
\echo 'Production still serves:'
SELECT version, note FROM rollout.get_version('support-bot');
\echo
\echo 'What an analyst sees in rollout.status:'
SELECT agent, rollout_id, state, stage, percent, samples_candidate, samples_baseline, hold_reason, waiting_for
  FROM rollout.status;
\echo
\echo 'What Prometheus scrapes (rollout.metrics through contrib/prometheus/queries.yaml), a few rows:'
SELECT metric, type, coalesce(arm, gate, state, '') AS label, round(value::numeric, 4) AS value
  FROM rollout.metrics
 WHERE agent = 'support-bot' AND metric IN ('state', 'candidate_percent', 'samples', 'rollbacks', 'promotions')
   AND (metric <> 'state' OR value = 1)
 ORDER BY metric, label;
\echo
\echo '== Part 4: an A/B/n test of three prompts ===================================='
\echo
\echo 'A triage agent tries two new prompts against its current one (the control, a):'
\echo 'b is clearly worse (task success 0.75), c clearly better (0.97). Each variant is'
\echo 'compared with the control by every gate at alpha / 2 (Bonferroni, two comparisons).'
SELECT rollout.create_agent('triage-bot', 'Routes tickets to teams') AS triage_id \gset
SELECT rollout.create_version('triage-bot', 'Route the ticket.', 'gpt-4o-2024-08-06') AS t1,
       rollout.create_version('triage-bot', 'Route the ticket. Be brief.', 'gpt-4o-2024-08-06') AS t2,
       rollout.create_version('triage-bot', 'Route the ticket. Read the whole thread first.', 'gpt-4o-2024-08-06') AS t3 \gset
SELECT rollout.set_label('triage-bot', 'production', :t1) AS done \gset
SELECT rollout.start('triage-bot', :t3, '{"strategy": "ab_test",
  "variants": [{"name": "a", "version": 1, "weight": 34}, {"name": "b", "version": 2, "weight": 33},
               {"name": "c", "version": 3, "weight": 33}],
  "experiment": {"duration": "4 hours", "min_samples": 1000},
  "gates": [{"name": "success", "metric": "success", "margin": 0.02, "min_samples": 500, "action": "hold"},
            {"name": "errors", "metric": "error", "margin": 0.02, "min_samples": 500, "action": "rollback_now"}]}',
  reason => 'which triage prompt', at => '2026-03-05 08:00+00') AS rollout_ab \gset
CREATE PROCEDURE pg_temp.ab_traffic(p_start timestamptz, p_slots integer)
LANGUAGE plpgsql AS $$
DECLARE
	d record;
	v_rate float8;
BEGIN
	FOR slot IN 0 .. p_slots - 1 LOOP
		FOR i IN 1 .. 300 LOOP
			SELECT * INTO d FROM rollout.route('triage-bot', 'ticket-' || (slot * 300 + i));
			v_rate := CASE d.version WHEN 1 THEN 0.90 WHEN 2 THEN 0.75 ELSE 0.97 END;
			PERFORM rollout.record('triage-bot', d.version, 'ticket-' || (slot * 300 + i),
				success => random() < v_rate, error => random() < 0.01,
				at => p_start + make_interval(mins => slot * 5, secs => i * 0.9));
		END LOOP;
		COMMIT;
		PERFORM rollout.tick(p_start + make_interval(mins => slot * 5 + 5));
		COMMIT;
	END LOOP;
END
$$;
CALL pg_temp.ab_traffic('2026-03-05 08:00+00', 24);
\echo
\echo 'Two hours in:'
SELECT state, waiting_for FROM rollout.status WHERE agent = 'triage-bot';
CALL pg_temp.ab_traffic('2026-03-05 10:00+00', 25);
\echo
\echo 'After four hours the test waits for a person, with a recommendation:'
SELECT state, waiting_for FROM rollout.status WHERE agent = 'triage-bot';
SELECT variant, gate, verdict, round(value_candidate::numeric, 3) AS variant_value,
       round(value_baseline::numeric, 3) AS control_value, n_candidate AS n, detail
  FROM rollout.gate_results
 WHERE rollout_id = :rollout_ab AND at = (SELECT max(at) FROM rollout.gate_results WHERE rollout_id = :rollout_ab)
 ORDER BY variant, gate;
\echo
\echo 'What an analyst reads in rollout.comparison: one row per variant against the control.'
SELECT arm, baseline_arm, candidate_n, baseline_n,
       round(candidate_success_rate::numeric, 3) AS variant_success,
       round(baseline_success_rate::numeric, 3) AS control_success
  FROM rollout.comparison WHERE rollout_id = :rollout_ab AND scope = 'stage' ORDER BY arm;
\echo
\echo 'The release manager promotes the recommended variant:'
SELECT rollout.promote('triage-bot', variant => 'c', at => '2026-03-05 12:10+00') AS result;
SELECT version, system_prompt FROM rollout.get_version('triage-bot');
\echo
\echo 'The test as the timeline tells it: a row when the verdict of a variant changes, with its hypothesis:'
SELECT to_char(at, 'Dy HH24:MI') AS "when", state, share, description
  FROM rollout.timeline('triage-bot', :rollout_ab);
\echo
\echo '== end of demo =============================================================='
