-- drover on PostgreSQL: three group roles with what each kind of client needs, and nothing more.
--
--   psql -v schema=drover -f /usr/share/drover/postgresql/roles.sql "postgresql://OWNER@HOST/DB"
--
-- Run it as the role that owns drover's schema (the first droverd created it) or a superuser,
-- after the first droverd has started; again after an upgrade; once per schema. Then give the
-- group roles to login roles:
--
--   CREATE ROLE shop_web LOGIN PASSWORD '...' IN ROLE drover_enqueue;   -- the application
--   CREATE ROLE ops LOGIN IN ROLE drover_operator;                      -- droverctl, dashboards
--   CREATE ROLE web_2 LOGIN IN ROLE drover_node;                        -- another droverd
--
-- drover_enqueue  inserts jobs (drover.enqueue, plain INSERT), reads the configured types'
--                 defaults (job_types) and reads back the id of a job with the same unique key. It cannot read payloads or results, change a job,
--                 or touch nodes, the leader lease, queues or schedules.
-- drover_operator reads everything, and changes what droverctl's verbs change: cancels, retries,
--                 purges, pauses of queues and schedules, enqueues. It cannot write nodes or the
--                 leader lease.
-- drover_node     what a droverd needs besides the owner's rights: reads and writes every table.
--                 Creating and migrating the schema stays with its owner: start the owning
--                 node first after an upgrade.
--
-- None of them may create triggers (TRIGGER is never granted): a trigger runs inside droverd's
-- transactions with droverd's role, and droverd refuses to start while a table holds one it did
-- not create.

\set ON_ERROR_STOP on
\if :{?schema}
\else
\set schema drover
\endif

SELECT format('CREATE ROLE %I NOLOGIN', r)
FROM unnest(ARRAY['drover_enqueue', 'drover_operator', 'drover_node']) AS r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec

BEGIN;

GRANT USAGE ON SCHEMA :"schema" TO drover_enqueue, drover_operator, drover_node;

-- The columns drover.enqueue and a plain INSERT name; a row is inserted queued (a trigger
-- refuses any other state). RETURNING id and the unique-key lookup read these few columns.
GRANT INSERT (type, queue, payload, priority, run_at, max_attempts, unique_key, resource, expires_at)
  ON :"schema".jobs TO drover_enqueue, drover_operator;
GRANT SELECT (id, type, unique_key, state) ON :"schema".jobs TO drover_enqueue;
-- The configured types and their defaults, which drover.enqueue and the plain-SQL form apply.
GRANT SELECT ON :"schema".job_types TO drover_enqueue;

GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO drover_operator;
GRANT UPDATE, DELETE ON :"schema".jobs TO drover_operator;
GRANT INSERT, UPDATE ON :"schema".queues, :"schema".schedules TO drover_operator;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO drover_node;

COMMIT;
