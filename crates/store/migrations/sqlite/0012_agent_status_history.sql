-- Agents by status over time, for the web UI's chart: one row per minute, written by whichever
-- node samples that minute first (the primary key makes the others' inserts no-ops).
CREATE TABLE agent_status_history (
    at TEXT PRIMARY KEY,
    counts TEXT NOT NULL
);
