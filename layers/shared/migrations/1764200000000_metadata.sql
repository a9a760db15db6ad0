-- Up Migration
-- Host, service and network metadata that the enricher joins onto logs.

CREATE TABLE hosts (
  hostname     text PRIMARY KEY,
  ip_address   inet NOT NULL,
  datacenter   text NOT NULL,
  environment  text NOT NULL,
  cost_center  text NOT NULL,
  tags         jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  -- One host per address: a log's source_ip must resolve to exactly one host.
  CONSTRAINT hosts_ip_address_key UNIQUE (ip_address)
);

CREATE TABLE services (
  name         text PRIMARY KEY,
  team         text NOT NULL,
  owner        text NOT NULL,
  tier         text NOT NULL,
  version      text NOT NULL,
  cost_center  text NOT NULL,
  tags         jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE networks (
  cidr         cidr PRIMARY KEY,
  datacenter   text NOT NULL,
  environment  text NOT NULL,
  zone         text NOT NULL,
  description  text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- GiST with inet_ops serves containment (`cidr >>= $ip`), so the most-specific-prefix lookup does not scan.
CREATE INDEX networks_cidr_gist ON networks USING gist (cidr inet_ops);

-- Down Migration
DROP TABLE networks;
DROP TABLE services;
DROP TABLE hosts;
