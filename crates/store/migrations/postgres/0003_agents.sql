-- Agents: the fields lists filter, sort and compute status on are real columns (copied from the
-- document on every write); the rest stays in the JSON document.
ALTER TABLE agent ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE agent ADD COLUMN enrolled_at TEXT COLLATE "C";
ALTER TABLE agent ADD COLUMN last_checkin TEXT COLLATE "C";
ALTER TABLE agent ADD COLUMN last_checkin_status TEXT;
ALTER TABLE agent ADD COLUMN policy_revision_idx BIGINT;
ALTER TABLE agent ADD COLUMN access_api_key_id TEXT;
CREATE INDEX agent_enrolled_at ON agent (enrolled_at, id);
CREATE INDEX agent_last_checkin ON agent (last_checkin);
CREATE UNIQUE INDEX agent_access_api_key_id ON agent (access_api_key_id);
