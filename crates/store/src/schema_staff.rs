//! Diesel tables for the staff area (kept apart so areas grow independently).

use crate::schema::{accounts, organisations};

diesel::table! {
    staff (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        totp_secret -> Nullable<Binary>,
        totp_last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        deactivated_at -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        previous_login_at -> Nullable<Timestamp>,
        pending_totp_secret -> Nullable<Binary>,
        channel -> Nullable<Text>,
        hpr_number -> Nullable<Text>,
    }
}

diesel::table! {
    staff_invitations (token_hash) {
        token_hash -> Text,
        staff_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_sessions (token_hash) {
        token_hash -> Text,
        staff_id -> Text,
        verified -> Bool,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    staff_login_failures (id) {
        id -> Text,
        staff_id -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    code_batches (id) {
        id -> Text,
        org_id -> Text,
        staff_id -> Nullable<Text>,
        program_slug -> Nullable<Text>,
        created_at -> Timestamp,
        sheet_shown_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    code_batch_items (account_id) {
        account_id -> Text,
        batch_id -> Text,
        issued_hash -> Text,
    }
}

diesel::table! {
    staff_views (id) {
        id -> Text,
        org_id -> Text,
        staff_id -> Text,
        account_id -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(staff -> organisations (org_id));
diesel::joinable!(staff_invitations -> staff (staff_id));
diesel::joinable!(staff_sessions -> staff (staff_id));
diesel::joinable!(code_batch_items -> accounts (account_id));
diesel::joinable!(code_batch_items -> code_batches (batch_id));
diesel::joinable!(staff_views -> staff (staff_id));
diesel::joinable!(staff_views -> accounts (account_id));
diesel::joinable!(staff_views -> organisations (org_id));
// Each pair may be declared only once in the crate.
diesel::allow_tables_to_appear_in_same_query!(
    staff,
    staff_invitations,
    staff_sessions,
    staff_login_failures,
    code_batches,
    code_batch_items,
    staff_views,
);
diesel::allow_tables_to_appear_in_same_query!(staff, organisations);
diesel::allow_tables_to_appear_in_same_query!(staff_views, organisations);
diesel::allow_tables_to_appear_in_same_query!(staff_views, accounts);
diesel::allow_tables_to_appear_in_same_query!(code_batch_items, accounts);
diesel::allow_tables_to_appear_in_same_query!(code_batches, accounts);
diesel::allow_tables_to_appear_in_same_query!(staff, accounts);
