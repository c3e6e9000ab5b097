-- Evidence-carrying decisions (trust rule 8): each human vote keeps the
-- signed human_decision it came from, so approval re-verifies every vote it
-- reads back and forwards the originals to the executor, which counts
-- them itself. A row without its message (from before this column) counts
-- for nothing.
ALTER TABLE approval_votes ADD COLUMN IF NOT EXISTS message text NOT NULL DEFAULT '';
