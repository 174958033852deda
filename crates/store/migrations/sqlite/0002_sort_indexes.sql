-- Sorted lists break ties by id in the sort's direction, so one index serves the whole ORDER BY.
DROP INDEX saved_object_name;
DROP INDEX saved_object_updated_at;
CREATE INDEX saved_object_name ON saved_object (kind, json_extract(doc, '$.name'), id);
CREATE INDEX saved_object_updated_at ON saved_object (kind, json_extract(doc, '$.updated_at'), id);

-- Without statistics SQLite prefers the index that avoids a sort over the one that selects a
-- single row, and a lookup by name scans every policy. Seed statistics that say what is true of
-- Fleet data (a kind has many objects, a name or policy id few); ANALYZE replaces them later.
ANALYZE;
DELETE FROM sqlite_stat1 WHERE tbl = 'saved_object';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('saved_object', 'saved_object_name', '100000 20000 1 1'),
    ('saved_object', 'saved_object_updated_at', '100000 20000 1 1'),
    ('saved_object', 'saved_object_policy_id', '100000 20000 5'),
    ('saved_object', 'sqlite_autoindex_saved_object_1', '100000 20000 1');
ANALYZE sqlite_schema;
