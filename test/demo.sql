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
\echo '== end of demo =============================================================='
