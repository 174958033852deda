-- The host name lists filter and sort on most, as an indexed column; tags get a GIN index that
-- `tags:x` (jsonb containment) uses.
ALTER TABLE agent ADD COLUMN hostname TEXT COLLATE "C";
ALTER TABLE agent_pit ADD COLUMN hostname TEXT COLLATE "C";
CREATE INDEX agent_hostname ON agent (hostname);
CREATE INDEX agent_tags ON agent USING GIN ((doc #> '{tags}'));
