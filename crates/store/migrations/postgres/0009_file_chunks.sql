-- Files agents upload (diagnostics bundles): metadata is a document (kind fleet-files); the
-- bytes arrive in numbered chunks of 4 MiB, each checked against its SHA-256.
CREATE TABLE file_chunk (
    upload_id TEXT NOT NULL,
    n         BIGINT NOT NULL,
    sha2      TEXT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (upload_id, n)
);
