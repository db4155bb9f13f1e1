-- The program area: progress through steps, questionnaire responses with
-- their answers, scores and flags, registrations, feedback and coarse
-- activity (login days, minutes rounded to five). Every table holding
-- account data refers to the account and is deleted with it.

CREATE TABLE step_progress (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    program_slug TEXT NOT NULL,
    step_id TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
CREATE INDEX step_progress_account ON step_progress (account_id);
CREATE UNIQUE INDEX step_progress_account_step ON step_progress (account_id, program_slug, step_id);

CREATE TABLE questionnaire_responses (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    questionnaire_id TEXT NOT NULL,
    questionnaire_version BIGINT NOT NULL,
    program_slug TEXT,
    step_id TEXT,
    total BIGINT NOT NULL,
    band_id TEXT NOT NULL,
    -- Flag ids raised by the answers, space-separated; empty when none.
    flags TEXT NOT NULL,
    prorated BOOLEAN NOT NULL,
    completed_at TIMESTAMP NOT NULL
);
CREATE INDEX questionnaire_responses_account ON questionnaire_responses (account_id);
CREATE INDEX questionnaire_responses_account_q ON questionnaire_responses (account_id, questionnaire_id, completed_at);

CREATE TABLE questionnaire_answers (
    response_id TEXT NOT NULL REFERENCES questionnaire_responses(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    option_value BIGINT NOT NULL,
    weight BIGINT NOT NULL,
    PRIMARY KEY (response_id, item_id)
);
CREATE INDEX questionnaire_answers_account ON questionnaire_answers (account_id);

CREATE TABLE registration_entries (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    registration_id TEXT NOT NULL,
    form_version BIGINT NOT NULL,
    program_slug TEXT,
    step_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX registration_entries_account ON registration_entries (account_id);
CREATE INDEX registration_entries_account_form ON registration_entries (account_id, registration_id, created_at);

-- One row per answered field, or per chosen category of a multi-choice or
-- rated field; category_id is '' for fields without categories.
CREATE TABLE registration_values (
    entry_id TEXT NOT NULL REFERENCES registration_entries(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    field_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    category_id TEXT NOT NULL,
    num_value BIGINT,
    text_value TEXT,
    PRIMARY KEY (entry_id, field_id, category_id)
);
CREATE INDEX registration_values_account ON registration_values (account_id);

CREATE TABLE feedback (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    topic TEXT,
    helpful BIGINT,
    ease BIGINT,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX feedback_account ON feedback (account_id);
CREATE INDEX feedback_created ON feedback (created_at);

-- Coarse activity: one row per account per Europe/Oslo date.
CREATE TABLE activity_days (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    logins BIGINT NOT NULL,
    minutes BIGINT NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, day)
);
CREATE INDEX activity_days_account ON activity_days (account_id);
