-- Fleet documents (saved objects): one row per object, the Kibana attributes as JSON.
CREATE TABLE saved_object (
    kind    TEXT   NOT NULL,
    id      TEXT   NOT NULL,
    version BIGINT NOT NULL,
    doc     JSONB  NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX saved_object_name ON saved_object (kind, (doc #> '{name}'));
CREATE INDEX saved_object_updated_at ON saved_object (kind, (doc #> '{updated_at}'));
CREATE INDEX saved_object_policy_id ON saved_object (kind, (doc #> '{policy_id}'));

-- Agents get their own table: at 100k rows their hot fields must be real columns.
CREATE TABLE agent (
    id        TEXT    PRIMARY KEY,
    policy_id TEXT,
    active    BOOLEAN NOT NULL DEFAULT TRUE,
    doc       JSONB   NOT NULL DEFAULT '{}'
);
CREATE INDEX agent_policy_id ON agent (policy_id);

CREATE TABLE app_user (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE api_key (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    key_hash    TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    expiration  TEXT,
    invalidated BOOLEAN NOT NULL DEFAULT FALSE
);
