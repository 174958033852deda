-- Queries name JSON paths with quoted segments (`'$."name"'`, so that any field name is safe),
-- and SQLite matches index expressions by their text: the indexes on `'$.name'` were never used
-- and every lookup by name parsed every document. Index the expressions the queries use.
DROP INDEX saved_object_name;
DROP INDEX saved_object_updated_at;
DROP INDEX saved_object_policy_id;
CREATE INDEX saved_object_name ON saved_object (kind, json_extract(doc, '$."name"'), id);
CREATE INDEX saved_object_updated_at ON saved_object (kind, json_extract(doc, '$."updated_at"'), id);
CREATE INDEX saved_object_policy_id ON saved_object (kind, json_extract(doc, '$."policy_id"'), id);
CREATE INDEX saved_object_package_name ON saved_object (kind, json_extract(doc, '$."package"."name"'), id);

ANALYZE;
DELETE FROM sqlite_stat1 WHERE tbl = 'saved_object';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('saved_object', 'saved_object_name', '100000 20000 1 1'),
    ('saved_object', 'saved_object_updated_at', '100000 20000 1 1'),
    ('saved_object', 'saved_object_policy_id', '100000 20000 5 1'),
    ('saved_object', 'saved_object_package_name', '100000 20000 50 1'),
    ('saved_object', 'sqlite_autoindex_saved_object_1', '100000 20000 1');
ANALYZE sqlite_schema;
