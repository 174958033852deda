-- The agent's version in an order-preserving form (`0009.0010.0002`), so "older than" is a
-- string comparison the database can index.
ALTER TABLE agent ADD COLUMN version_sort TEXT;
ALTER TABLE agent_pit ADD COLUMN version_sort TEXT;
CREATE INDEX agent_version_sort ON agent (version_sort);
