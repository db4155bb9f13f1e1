-- A user may void a questionnaire answer they gave by mistake: kept and
-- marked, left out of every result, chart and staff view.
ALTER TABLE questionnaire_responses ADD COLUMN voided_at TIMESTAMP;
