ALTER TABLE questionnaire_responses DROP COLUMN voided_at;
