-- Group data is computed from grouped counts over a whole channel, which
-- at a national channel's size takes seconds. The counts (never a person's
-- row: only organisation × category × month totals) are kept here and
-- refreshed by the hourly maintenance, or on a request once older than
-- MESTRING_AGGREGATES_MAX_AGE_SECS. `scope_key` names what they were
-- computed for (first month, content); a different key recomputes.
CREATE TABLE aggregate_snapshots (
    channel TEXT PRIMARY KEY NOT NULL REFERENCES channels(slug),
    scope_key TEXT NOT NULL,
    computed_at TIMESTAMP NOT NULL,
    counts TEXT NOT NULL
);
