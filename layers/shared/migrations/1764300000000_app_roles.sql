-- Up Migration
-- Group roles holding the functions' privileges; the login roles (one per function, each with its own
-- secret) are members, created by the migrate function (functions/metadata/migrate.ts). Names:
-- layers/shared/src/db/app-roles.ts DATABASE_GROUPS.
--
-- Roles are cluster-wide while this file runs once per database, possibly in several databases at once (the
-- integration tests): a role that exists, or that a concurrent run is creating, is left as it is.

DO $$
BEGIN
  CREATE ROLE log_enrichment_read NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

DO $$
BEGIN
  CREATE ROLE log_enrichment_write NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

-- enrich: reads the metadata; metadata: reads and writes it. Neither owns a table nor may change the schema.
GRANT USAGE ON SCHEMA public TO log_enrichment_read, log_enrichment_write;
GRANT SELECT ON hosts, services, networks TO log_enrichment_read;
GRANT SELECT, INSERT, UPDATE, DELETE ON hosts, services, networks TO log_enrichment_write;

-- Tables that later migrations create (as the role running them) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO log_enrichment_read;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO log_enrichment_write;

-- Down Migration
-- The roles stay: other databases of the cluster may still grant them.
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM log_enrichment_write;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM log_enrichment_read;
REVOKE ALL ON hosts, services, networks FROM log_enrichment_read, log_enrichment_write;
REVOKE USAGE ON SCHEMA public FROM log_enrichment_read, log_enrichment_write;
