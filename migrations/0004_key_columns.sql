-- Per-table key columns named in the job spec (`key_columns`), for tables
-- whose key Freight cannot see: {"table": ["col_a", "col_b"], ...}.
-- Tables without an entry and without a key are copied whole.
ALTER TABLE jobs
    ADD COLUMN key_columns jsonb NOT NULL DEFAULT '{}'::jsonb;
