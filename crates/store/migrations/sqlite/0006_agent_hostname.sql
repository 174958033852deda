-- The host name lists filter and sort on most, as an indexed column.
ALTER TABLE agent ADD COLUMN hostname TEXT;
ALTER TABLE agent_pit ADD COLUMN hostname TEXT;
CREATE INDEX agent_hostname ON agent (hostname);
