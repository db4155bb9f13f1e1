//! Diesel tables for the consent area (kept apart so areas grow independently).

use crate::schema::{accounts, organisations};

diesel::table! {
    consent_events (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    deletion_records (id) {
        id -> Text,
        org_id -> Text,
        pseudonym -> Nullable<Binary>,
        deleted_at -> Timestamp,
    }
}

diesel::joinable!(consent_events -> accounts (account_id));
diesel::joinable!(deletion_records -> organisations (org_id));
// Each pair may be declared only once in the crate.
diesel::allow_tables_to_appear_in_same_query!(consent_events, accounts);
diesel::allow_tables_to_appear_in_same_query!(deletion_records, organisations);
