-- Indexes on exactly the expressions sorted lists use (strings by code point, then JSON order,
-- then id), so a page of the newest or first-named objects is read in index order.
CREATE INDEX saved_object_sort_updated_at ON saved_object (
    kind,
    ((CASE WHEN jsonb_typeof((doc #> '{updated_at}')) = 'string' THEN (doc #>> '{updated_at}') END) COLLATE "C") DESC NULLS LAST,
    (doc #> '{updated_at}') DESC NULLS LAST,
    id DESC
);
CREATE INDEX saved_object_sort_name ON saved_object (
    kind,
    ((CASE WHEN jsonb_typeof((doc #> '{name}')) = 'string' THEN (doc #>> '{name}') END) COLLATE "C") DESC NULLS LAST,
    (doc #> '{name}') DESC NULLS LAST,
    id DESC
);
