-- pgswitch's own schema, created by `pgswitch init` on both nodes.
--
-- It holds functions only, no tables: node state lives in the daemon's state
-- file, so nothing here is picked up by a FOR ALL TABLES publication.
-- Every function is safe to run again; operators may call pgswitch.fence()
-- and pgswitch.unfence() by hand from a runbook.

CREATE SCHEMA IF NOT EXISTS pgswitch;
COMMENT ON SCHEMA pgswitch IS 'pgswitch failover manager: fence and apply helpers';

-- The database-level value of a setting (ALTER DATABASE … SET), or NULL.
CREATE OR REPLACE FUNCTION pgswitch.db_setting(setting text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT substr(s, length(setting) + 2)
    FROM pg_catalog.pg_db_role_setting r,
         unnest(r.setconfig) AS s
    WHERE r.setdatabase = (SELECT oid FROM pg_catalog.pg_database
                           WHERE datname = current_database())
      AND r.setrole = 0
      AND s LIKE setting || '=%'
$$;

-- Fence this database: no new connections for non-superuser roles
-- (CONNECTION LIMIT 0) and every new session starts read-only. Both survive a
-- restart of PostgreSQL and of pgswitch. The operator's own connection limit
-- is kept in the database setting pgswitch.saved_connection_limit and put back
-- by pgswitch.unfence(). Open sessions are ended separately by pgswitch.
CREATE OR REPLACE FUNCTION pgswitch.fence()
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    current_limit int;
BEGIN
    SELECT datconnlimit INTO current_limit
    FROM pg_catalog.pg_database WHERE datname = current_database();
    IF pgswitch.db_setting('pgswitch.saved_connection_limit') IS NULL THEN
        EXECUTE format('ALTER DATABASE %I SET pgswitch.saved_connection_limit = %L',
                       current_database(), current_limit);
    END IF;
    EXECUTE format('ALTER DATABASE %I CONNECTION LIMIT 0', current_database());
    EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on',
                   current_database());
END
$$;

-- Lift the fence. writable => true: the database takes writes (the active
-- node); false: clients may connect and read, but every session starts
-- read-only and shows transaction_read_only = on (the standby), so that libpq
-- clients with target_session_attrs=read-write skip this node.
CREATE OR REPLACE FUNCTION pgswitch.unfence(writable boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    saved text := pgswitch.db_setting('pgswitch.saved_connection_limit');
BEGIN
    IF saved IS NOT NULL THEN
        EXECUTE format('ALTER DATABASE %I CONNECTION LIMIT %s', current_database(), saved::int);
        EXECUTE format('ALTER DATABASE %I RESET pgswitch.saved_connection_limit',
                       current_database());
    END IF;
    EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = %s',
                   current_database(), CASE WHEN writable THEN 'off' ELSE 'on' END);
END
$$;

-- How clients see this database right now: 'writable', 'read-only' (standby)
-- or 'fenced' (no new connections, read-only).
CREATE OR REPLACE FUNCTION pgswitch.client_mode()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN (SELECT datconnlimit FROM pg_catalog.pg_database
              WHERE datname = current_database()) = 0 THEN 'fenced'
        WHEN coalesce(pgswitch.db_setting('default_transaction_read_only'), 'off')
             IN ('on', 'true', '1', 'yes') THEN 'read-only'
        ELSE 'writable'
    END
$$;

-- The applier's key equality for columns of user-defined types: "k = $1"
-- with an untyped parameter resolves a composite key to record = record
-- (and the parameter to an anonymous record, which has no input); this
-- polymorphic function resolves the parameter to the column's own type and
-- is inlined, so the key's index serves. A permanent function, not a
-- session's temporary one: a session with temporary objects commits a
-- transaction of its own when it exits, which would carry a replication
-- origin position left behind by a failed commit.
CREATE OR REPLACE FUNCTION pgswitch.key_eq(anyelement, anyelement)
RETURNS boolean
LANGUAGE sql IMMUTABLE
AS 'SELECT $1 = $2';

-- Called by the applier as the last statement of every applied source
-- transaction. It refuses to commit unless the previous source transaction
-- did (the session's origin is exactly where the applier expects it), gives
-- the local transaction an xid so that its commit record is written, and
-- records the source commit's end LSN and time in the replication origin in
-- the same local transaction as the data: exactly-once apply.
CREATE OR REPLACE FUNCTION pgswitch.apply_commit(expected pg_lsn, end_lsn pg_lsn,
                                                 commit_time timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    at pg_lsn := pg_catalog.pg_replication_origin_session_progress(false);
BEGIN
    IF at IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'pgswitch: replication origin is at %, expected % (an earlier source transaction did not commit)',
            at, expected;
    END IF;
    PERFORM pg_catalog.pg_current_xact_id();
    PERFORM pg_catalog.pg_replication_origin_xact_setup(end_lsn, commit_time);
END
$$;
