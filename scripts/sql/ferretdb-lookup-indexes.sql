-- Applied by test/support/local-servers.ts to the embedded FerretDB's PostgreSQL at every start,
-- before FerretDB takes connections. Idempotent.
--
-- Why: FerretDB v1.24 sends an equality on a top-level field (`{_id: k}`, `{id: n}`) as
-- `_jsonb->$1 @> $2`. Its own indexes are btrees on `(_jsonb->'f')`, which serve `=` but never `@>`,
-- so every such lookup scanned the whole table (measured: 15.8 ms per findOne at 50,000 documents,
-- growing linearly). A GIN index on the same expression serves `@>`: each btree FerretDB makes on a
-- single top-level field gets a GIN twin here, for existing tables now and for new ones (a new
-- collection, a new database) by an event trigger, in the same transaction as FerretDB's own index,
-- so no query of a new collection ever runs before it exists. The planner can match the parameter
-- `$1` to the index expression only in a custom plan: the server runs with
-- plan_cache_mode = force_custom_plan (set on its command line).

CREATE OR REPLACE FUNCTION public.hemo_gin_twin(idx oid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  tbl regclass;
  tblname text;
  expr text;
  idxname text;
BEGIN
  SELECT i.indrelid::regclass, t.relname, pg_get_indexdef(idx, 1, false), c.relname
    INTO tbl, tblname, expr, idxname
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_am a ON a.oid = c.relam
   WHERE i.indexrelid = idx AND a.amname = 'btree' AND i.indnatts = 1 AND i.indexprs IS NOT NULL;
  -- Only FerretDB's data tables, and only a single top-level field: `_jsonb -> 'name'::text`.
  IF tbl IS NULL OR tblname LIKE '\_ferretdb\_%' OR expr !~ '^\(*_jsonb -> ''[^'']+''::text\)*$' THEN
    RETURN;
  END IF;
  -- fastupdate off for `_id`: every write looks its patient up, and a lookup scans GIN's whole pending
  -- list (measured: 3.6 ms instead of 0.06 ms per lookup after 50,000 inserts). Other fields (an
  -- admin's look-up by `id`) are read rarely: their twins keep the cheaper pending-list writes.
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((%s) jsonb_path_ops) WITH (fastupdate = %s)',
    left(idxname, 59) || '_gin', tbl, expr, CASE WHEN expr ~ '''_id''' THEN 'off' ELSE 'on' END);
END $$;

CREATE OR REPLACE FUNCTION public.hemo_gin_twins_on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  -- The twin's own CREATE INDEX fires this again: hemo_gin_twin skips GIN indexes.
  FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' AND object_type = 'index' LOOP
    PERFORM public.hemo_gin_twin(r.objid);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS hemo_gin_twins;
CREATE EVENT TRIGGER hemo_gin_twins ON ddl_command_end WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION public.hemo_gin_twins_on_ddl();

-- Tables that exist already (a data directory from before this file, or a restart).
SELECT public.hemo_gin_twin(i.indexrelid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
 JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema');

-- The statements FerretDB sends, with their plans' costs, for `EXPLAIN` and the tests.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
