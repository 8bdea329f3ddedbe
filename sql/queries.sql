-- Named queries pgswitch runs. Each begins with "-- name: <name>".
-- Parameters are $1, $2, … in the order the comment gives.

-- name: server_info
-- What check and the fault checks need to know about a server.
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('wal_level') AS wal_level,
       current_setting('max_replication_slots')::int AS max_replication_slots,
       current_setting('max_wal_senders')::int AS max_wal_senders,
       (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int AS slots_used,
       pg_catalog.pg_is_in_recovery() AS in_recovery,
       current_database() AS database,
       current_user AS role,
       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS superuser,
       (SELECT rolreplication FROM pg_catalog.pg_roles WHERE rolname = current_user) AS replication,
       EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'pgswitch') AS has_schema

-- name: origin_create
-- $1 origin name. Creates the replication origin unless it exists.
SELECT pg_catalog.pg_replication_origin_create($1)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)

-- name: origin_exists
-- $1 origin name.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)

-- name: origin_progress
-- $1 origin name. The durably recorded position (NULL when never advanced).
SELECT pg_catalog.pg_replication_origin_progress($1, true)::text

-- name: origin_advance
-- $1 origin name, $2 LSN. Sets the origin's position (used after the initial
-- copy and when a node starts following a new active).
SELECT pg_catalog.pg_replication_origin_advance($1, $2::pg_lsn)

-- name: origin_session_setup
-- $1 origin name. Binds the origin to this session for the applier.
SELECT pg_catalog.pg_replication_origin_session_setup($1)

-- name: origin_session_progress
-- The origin position of this session (NULL when never advanced).
SELECT pg_catalog.pg_replication_origin_session_progress(false)::text

-- name: apply_commit
-- $1 expected origin position, $2 source commit end LSN, $3 source commit time.
-- What pgswitch.apply_commit does, as one SQL expression so that the common
-- case runs no PL/pgSQL: unless the session's origin is where the applier
-- expects it, pgswitch.apply_commit raises; otherwise the transaction gets
-- an xid and the origin records the source commit.
SELECT CASE
    WHEN pg_catalog.pg_replication_origin_session_progress(false) IS NOT DISTINCT FROM $1::pg_lsn
    THEN pg_catalog.pg_current_xact_id()::text
         || pg_catalog.pg_replication_origin_xact_setup($2::pg_lsn, $3::timestamptz)::text
    ELSE pgswitch.apply_commit($1::pg_lsn, $2::pg_lsn, $3::timestamptz)::text
END

-- name: wal_positions
-- Where this server's WAL insert and flush positions are.
SELECT pg_catalog.pg_current_wal_insert_lsn()::text, pg_catalog.pg_current_wal_flush_lsn()::text

-- name: current_wal_lsn
SELECT pg_catalog.pg_current_wal_lsn()::text

-- name: slot_info
-- $1 slot name.
SELECT slot_name::text, plugin, slot_type, database, active,
       coalesce(active_pid, 0) AS active_pid,
       coalesce(confirmed_flush_lsn::text, '') AS confirmed_flush_lsn,
       coalesce(restart_lsn::text, '') AS restart_lsn,
       coalesce(wal_status, '') AS wal_status
FROM pg_catalog.pg_replication_slots
WHERE slot_name = $1

-- name: slot_create
-- $1 slot name. A logical slot with pgoutput, unless it exists.
SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)

-- name: slot_drop
-- $1 slot name. Drops the slot if it exists and no walsender uses it.
SELECT pg_catalog.pg_drop_replication_slot(slot_name)
FROM pg_catalog.pg_replication_slots
WHERE slot_name = $1 AND NOT active

-- name: slot_walsender_terminate
-- $1 slot name. Ends the walsender that streams from the slot.
SELECT pg_catalog.pg_terminate_backend(active_pid)
FROM pg_catalog.pg_replication_slots
WHERE slot_name = $1 AND active_pid IS NOT NULL

-- name: publication_exists
-- $1 publication name.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1)

-- name: published_tables
-- $1 publication name. The tables it publishes, except pgswitch's own schema.
SELECT schemaname::text, tablename::text
FROM pg_catalog.pg_publication_tables
WHERE pubname = $1 AND schemaname <> 'pgswitch'
ORDER BY 1, 2

-- name: user_tables
-- Every ordinary and partitioned user table (what FOR ALL TABLES will publish).
SELECT n.nspname::text, c.relname::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgswitch')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND c.relpersistence = 'p'
ORDER BY 1, 2

-- name: table_shape
-- $1 schema, $2 table. Columns, replica identity and key of one table:
-- what check compares between the nodes.
SELECT a.attname::text,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull,
       a.attgenerated <> '' AS generated,
       c.relreplident::text AS replident,
       coalesce((SELECT string_agg(k.attname, ',' ORDER BY k.attnum)
                 FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = ANY (i.indkey)
                 WHERE i.indrelid = c.oid AND i.indisprimary), '') AS primary_key,
       coalesce((SELECT string_agg(k.attname, ',' ORDER BY k.attnum)
                 FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = ANY (i.indkey)
                 WHERE i.indrelid = c.oid AND i.indisreplident), '') AS identity_index
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relname = $2
ORDER BY a.attnum

-- name: table_has_rows
-- $1 qualified table name. Whether the table holds any row.
SELECT EXISTS (SELECT 1 FROM ONLY %s)

-- name: client_backends
-- Client sessions on this database other than pgswitch's own: what the fence
-- ends. pgswitch's sessions use application_name pgswitch… and its own role.
SELECT pid, usename::text, coalesce(application_name, '') AS application_name,
       coalesce(client_addr::text, 'local') AS client,
       backend_xid IS NOT NULL AS has_xid
FROM pg_catalog.pg_stat_activity
WHERE datname = current_database()
  AND backend_type = 'client backend'
  AND pid <> pg_catalog.pg_backend_pid()
  AND NOT (application_name LIKE 'pgswitch%' AND usename = current_user)

-- name: terminate_backend
-- $1 pid.
SELECT pg_catalog.pg_terminate_backend($1)

-- name: prepared_xacts
-- Prepared transactions on this database (a fence must not leave any).
SELECT count(*)::int FROM pg_catalog.pg_prepared_xacts WHERE database = current_database()

-- name: client_mode
SELECT pgswitch.client_mode()

-- name: fence
SELECT pgswitch.fence()

-- name: unfence
-- $1 writable.
SELECT pgswitch.unfence($1)

-- name: sequences
-- Sequences outside pgswitch's schema with their current values (NULL when
-- nextval was never called).
SELECT schemaname::text, sequencename::text, last_value
FROM pg_catalog.pg_sequences
WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'pgswitch')
ORDER BY 1, 2

-- name: emit_marker
-- $1 message content. A transactional logical decoding message that the
-- standby's applier recognises; returns the LSN of the message.
SELECT pg_catalog.pg_logical_emit_message(true, 'pgswitch', $1)::text

-- name: data_directory
SELECT current_setting('data_directory')

-- name: sequence_columns
-- Each integer column that a sequence feeds (owned by it: serial,
-- identity, OWNED BY; or a DEFAULT calling nextval on it), as quoted names:
-- a new active carries the sequence past the column's largest value, so
-- that no insert fails on a row that replication brought.
SELECT d.objid::regclass::text, d.refobjid::regclass::text, pg_catalog.quote_ident(a.attname::text)
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
  AND d.deptype IN ('a', 'i')
  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
UNION
SELECT d.refobjid::regclass::text, ad.adrelid::regclass::text, pg_catalog.quote_ident(a.attname::text)
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
ORDER BY 1, 2, 3

-- name: origin_position
-- $1 origin name. The end of the last source transaction applied through
-- it (NULL when nothing was).
SELECT remote_lsn::text FROM pg_catalog.pg_replication_origin_status WHERE external_id = $1
