-- Point-in-time views of the agents: a copy of the agent rows taken when the view is opened,
-- kept until it expires. Status is computed at query time, as Kibana's runtime field is.
CREATE TABLE agent_pit (
    pit_id              TEXT    NOT NULL,
    id                  TEXT    NOT NULL,
    version             INTEGER NOT NULL,
    doc                 TEXT    NOT NULL,
    policy_id           TEXT,
    active              BOOLEAN NOT NULL,
    enrolled_at         TEXT,
    last_checkin        TEXT,
    last_checkin_status TEXT,
    policy_revision_idx INTEGER,
    access_api_key_id   TEXT,
    PRIMARY KEY (pit_id, id)
);
CREATE INDEX agent_pit_enrolled_at ON agent_pit (pit_id, enrolled_at, id);
CREATE TABLE agent_pit_meta (
    pit_id     TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
