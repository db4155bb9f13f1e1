DROP TABLE activity_days;
DROP TABLE feedback;
DROP TABLE registration_values;
DROP TABLE registration_entries;
DROP TABLE questionnaire_answers;
DROP TABLE questionnaire_responses;
DROP TABLE step_progress;
