//! Diesel tables for the program area (kept apart so areas grow independently).

use crate::schema::accounts;

diesel::table! {
    step_progress (id) {
        id -> Text,
        account_id -> Text,
        program_slug -> Text,
        step_id -> Text,
        first_seen_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    questionnaire_responses (id) {
        id -> Text,
        account_id -> Text,
        questionnaire_id -> Text,
        questionnaire_version -> BigInt,
        program_slug -> Nullable<Text>,
        step_id -> Nullable<Text>,
        total -> BigInt,
        band_id -> Text,
        flags -> Text,
        prorated -> Bool,
        completed_at -> Timestamp,
        voided_at -> Nullable<Timestamp>,
        answers_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    questionnaire_answers (response_id, item_id) {
        response_id -> Text,
        account_id -> Text,
        item_id -> Text,
        option_value -> BigInt,
        weight -> BigInt,
    }
}

diesel::table! {
    measure_summaries (account_id, questionnaire_id) {
        account_id -> Text,
        questionnaire_id -> Text,
        first_total -> BigInt,
        latest_total -> BigInt,
        latest_band -> Text,
        latest_flags -> Text,
        answers -> BigInt,
        latest_at -> Timestamp,
    }
}

diesel::table! {
    registration_entries (id) {
        id -> Text,
        account_id -> Text,
        registration_id -> Text,
        form_version -> BigInt,
        program_slug -> Nullable<Text>,
        step_id -> Nullable<Text>,
        created_at -> Timestamp,
        edited_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    registration_values (entry_id, field_id, category_id) {
        entry_id -> Text,
        account_id -> Text,
        field_id -> Text,
        kind -> Text,
        category_id -> Text,
        num_value -> Nullable<BigInt>,
        text_value -> Nullable<Text>,
        text_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    feedback (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        topic -> Nullable<Text>,
        helpful -> Nullable<BigInt>,
        ease -> Nullable<BigInt>,
        body -> Text,
        created_at -> Timestamp,
        handled_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        body_sealed -> Nullable<Binary>,
    }
}

diesel::table! {
    activity_days (account_id, day) {
        account_id -> Text,
        day -> Text,
        logins -> BigInt,
        minutes -> BigInt,
        last_seen_at -> Timestamp,
    }
}

diesel::joinable!(step_progress -> accounts (account_id));
diesel::joinable!(questionnaire_responses -> accounts (account_id));
diesel::joinable!(questionnaire_answers -> questionnaire_responses (response_id));
diesel::joinable!(registration_entries -> accounts (account_id));
diesel::joinable!(registration_values -> registration_entries (entry_id));
diesel::joinable!(feedback -> accounts (account_id));
diesel::joinable!(measure_summaries -> accounts (account_id));
diesel::joinable!(activity_days -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    step_progress,
    questionnaire_responses,
    questionnaire_answers,
    registration_entries,
    registration_values,
    feedback,
    activity_days,
    measure_summaries,
);
