ALTER TABLE questionnaire_responses DROP COLUMN answers_sealed;
DROP INDEX feedback_clear;
DROP INDEX registration_values_clear;
ALTER TABLE feedback DROP COLUMN body_sealed;
ALTER TABLE registration_values DROP COLUMN text_sealed;
DROP TABLE account_keys;
