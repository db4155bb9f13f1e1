-- One row per account and questionnaire: the first and latest total of
-- the answers that were not voided, the latest band and flags, and how
-- many there are. Kept up to date in the same transaction as every answer
-- and every voiding (mestring_store::responses), so the clinician's
-- overview can filter and sort thousands of sharing users by one row each
-- instead of reading every answer.
CREATE TABLE measure_summaries (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    questionnaire_id TEXT NOT NULL,
    first_total BIGINT NOT NULL,
    latest_total BIGINT NOT NULL,
    latest_band TEXT NOT NULL,
    latest_flags TEXT NOT NULL,
    answers BIGINT NOT NULL,
    latest_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, questionnaire_id)
);

-- What is already stored.
INSERT INTO measure_summaries
    (account_id, questionnaire_id, first_total, latest_total, latest_band, latest_flags, answers, latest_at)
SELECT g.account_id, g.questionnaire_id,
    (SELECT r.total FROM questionnaire_responses r
        WHERE r.account_id = g.account_id AND r.questionnaire_id = g.questionnaire_id AND r.voided_at IS NULL
        ORDER BY r.completed_at ASC, r.id ASC LIMIT 1),
    (SELECT r.total FROM questionnaire_responses r
        WHERE r.account_id = g.account_id AND r.questionnaire_id = g.questionnaire_id AND r.voided_at IS NULL
        ORDER BY r.completed_at DESC, r.id DESC LIMIT 1),
    (SELECT r.band_id FROM questionnaire_responses r
        WHERE r.account_id = g.account_id AND r.questionnaire_id = g.questionnaire_id AND r.voided_at IS NULL
        ORDER BY r.completed_at DESC, r.id DESC LIMIT 1),
    (SELECT r.flags FROM questionnaire_responses r
        WHERE r.account_id = g.account_id AND r.questionnaire_id = g.questionnaire_id AND r.voided_at IS NULL
        ORDER BY r.completed_at DESC, r.id DESC LIMIT 1),
    g.n, g.latest_at
FROM (
    SELECT account_id, questionnaire_id, COUNT(*) AS n, MAX(completed_at) AS latest_at
    FROM questionnaire_responses WHERE voided_at IS NULL
    GROUP BY account_id, questionnaire_id
) g;
