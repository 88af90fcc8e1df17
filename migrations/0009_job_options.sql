-- Job options of issue 10 (see `JobSpec`):
-- `zero_dates`: MySQL zero and partial dates become NULL ('null') or make
-- their row a rejected record ('reject').
ALTER TABLE jobs
    ADD COLUMN zero_dates text NOT NULL DEFAULT 'null'
        CHECK (zero_dates IN ('null', 'reject'));
-- `identifiers`: target names as the source spells them ('keep') or
-- folded to lower case ('lower').
ALTER TABLE jobs
    ADD COLUMN identifiers text NOT NULL DEFAULT 'keep'
        CHECK (identifiers IN ('keep', 'lower'));
