-- Agent actions (Kibana's .fleet-actions and .fleet-actions-results). An action is one row;
-- its delivery to each agent is one row of action_agent, whose seq is the check-in cursor
-- (ack_token); a result per agent comes with the ack.
CREATE TABLE action (
    action_id  TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expiration TEXT,
    doc        JSONB NOT NULL
);
CREATE INDEX action_created_at ON action (created_at);
CREATE TABLE action_agent (
    seq       BIGSERIAL PRIMARY KEY,
    action_id TEXT NOT NULL,
    agent_id  TEXT NOT NULL,
    UNIQUE (action_id, agent_id)
);
CREATE INDEX action_agent_agent ON action_agent (agent_id, seq);
CREATE TABLE action_result (
    action_id  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    error      TEXT,
    doc        JSONB NOT NULL,
    PRIMARY KEY (action_id, agent_id)
);
