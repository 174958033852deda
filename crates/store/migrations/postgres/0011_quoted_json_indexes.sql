-- (SQLite fixes its JSON indexes here; PostgreSQL's already match the queries.)
SELECT 1;
