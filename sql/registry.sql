-- Version registry: agents, versions, fingerprints, labels, diff, events.
\i test/sql/helpers.sql

SELECT rollout.create_agent('support-bot', 'Answers support tickets') > 0 AS created;

-- Version 1 and 2; the same content again returns the existing number.
SELECT rollout.create_version('support-bot', 'You are a helpful support agent.', 'gpt-4o-2024-08-06',
       tools => '[{"name": "search_kb"}]', params => '{"temperature": 0.2, "max_tokens": 512}') AS v1;
SELECT rollout.create_version('support-bot', 'You are a concise, helpful support agent.', 'gpt-4o-2024-08-06',
       tools => '[{"name": "search_kb"}]', params => '{"max_tokens": 512, "temperature": 0.2}',
       note => 'shorter answers') AS v2;
SELECT rollout.create_version('support-bot', 'You are a helpful support agent.', 'gpt-4o-2024-08-06',
       tools => '[{"name": "search_kb"}]', params => '{"max_tokens": 512, "temperature": 0.2}') AS v1_again;
SELECT agent, version, fingerprint, model, params, note, created_by = session_user AS by_me
  FROM rollout.versions WHERE agent = 'support-bot' ORDER BY version;

-- The fingerprint is the documented canonical serialization, hashed.
SELECT rollout.canonical_json('{"b": [1, 2.50, {"z": null, "a": true}], "a": "x\"y", "aa": 1e3}');
SELECT rollout.fingerprint('p', NULL, '[]', 'm-001', '[]', '{}', NULL)
     = encode(sha256(convert_to(E'pg_rollout-version-v1\nsystem_prompt=1:p\ntemplate=~\nfew_shot=2:[]\nmodel=5:m-001\ntools=2:[]\nparams=2:{}\ncode_ref=~\n', 'UTF8')), 'hex') AS documented;

-- Labels move with history.
SELECT rollout.set_label('support-bot', 'production', 1);
SELECT rollout.set_label('support-bot', 'staging', 2);
SELECT rollout.set_label('support-bot', 'production', 2, 'promote shorter answers');
SELECT rollout.set_label('support-bot', 'production', 2);  -- no move, no history row
SELECT agent, label, version FROM rollout.labels WHERE agent = 'support-bot' ORDER BY label;
SELECT label, old_version, new_version, reason FROM rollout.label_history WHERE agent = 'support-bot' ORDER BY id;

SELECT version, note FROM rollout.get_version('support-bot');
SELECT version FROM rollout.get_version('support-bot', 'staging');
SELECT version FROM rollout.get_version('support-bot', '1');
SELECT * FROM rollout.diff('support-bot', 1, 2);
SELECT count(*) FROM rollout.diff('support-bot', 2, 2);

-- Pinned and floating model ids.
SELECT m, rollout.model_is_pinned(m)
  FROM unnest(ARRAY['gpt-4o-2024-08-06', 'claude-3-5-sonnet-20241022', 'gpt-4-0613',
                    'gemini-1.5-pro-002', 'my-model@v3', 'llama:1.2.0',
                    'gpt-4o', 'gpt-4', 'claude-3-5-sonnet-latest', 'o1-LATEST', 'mistral-large',
                    'llama3.1:8b']) AS m;
SELECT rollout.create_version('support-bot', 'floating ok', 'gpt-4o', allow_floating_model => true) AS v3;

-- The audit trail: who, what, old and new.
SELECT row_number() OVER (ORDER BY id) AS n, agent, action, actor = session_user AS actor_ok, acting_role = current_user AS role_ok,
       old, new - 'id' AS new, reason
  FROM rollout.events WHERE agent = 'support-bot' ORDER BY id;

-- Versions and events are append-only.
SELECT pg_temp.err($$UPDATE rollout.versions SET note = 'changed' WHERE version = 1$$);
SELECT pg_temp.err($$DELETE FROM rollout.versions WHERE version = 1$$);
SET client_min_messages = warning;  -- the cascade notices list every referencing table
SELECT pg_temp.err($$TRUNCATE rollout.versions CASCADE$$);
RESET client_min_messages;
SELECT pg_temp.err($$UPDATE rollout.events SET reason = 'x'$$);
SELECT pg_temp.err($$DELETE FROM rollout.events$$);
SELECT pg_temp.err($$TRUNCATE rollout.events$$);
SELECT count(*) AS versions FROM rollout.versions WHERE agent = 'support-bot';
