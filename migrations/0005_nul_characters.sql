-- What a job does with text holding NUL characters (`nul_characters` in
-- the job spec): 'reject' (a record error where the target cannot store
-- them) or 'strip' (removed while reading).
ALTER TABLE jobs
    ADD COLUMN nul_characters text NOT NULL DEFAULT 'reject'
        CHECK (nul_characters IN ('reject', 'strip'));
