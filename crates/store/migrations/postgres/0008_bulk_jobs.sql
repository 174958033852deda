-- Bulk actions run in batches in the background. A job row holds what to do (the request as
-- the action's spec) and how far it got (cursor: the last agent id handled). The cursor moves in
-- the same transaction as each batch, so a restarted node resumes exactly after the last
-- committed batch and no agent is actioned twice.
CREATE TABLE bulk_job (
    action_id  TEXT PRIMARY KEY,
    spec       JSONB NOT NULL,
    cursor     TEXT,
    done       BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TEXT NOT NULL
);
CREATE INDEX bulk_job_pending ON bulk_job (done, updated_at);
