//! The diesel schema, one file for both backends. Only types
//! `MultiBackend` supports appear here (Text, BigInt, Bool, Binary,
//! Timestamp). `tests/schema_drift.rs` checks it against what the
//! migrations build, on SQLite and on PostgreSQL, in CI. Each pair of
//! tables may be allowed in the same query only once in the crate.

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        channel -> Text,
    }
}

diesel::table! {
    channels (slug) {
        slug -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    aggregate_snapshots (channel) {
        channel -> Text,
        scope_key -> Text,
        computed_at -> Timestamp,
        counts -> Text,
    }
}

diesel::joinable!(organisations -> channels (channel));
diesel::allow_tables_to_appear_in_same_query!(channels, organisations);

diesel::table! {
    accounts (id) {
        id -> Text,
        code_hash -> Text,
        org_id -> Nullable<Text>,
        program_slug -> Nullable<Text>,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        deactivated_at -> Nullable<Timestamp>,
        pseudonym -> Nullable<Binary>,
        previous_login_at -> Nullable<Timestamp>,
        sharing_since -> Nullable<Timestamp>,
        sharing_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        account_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        pending_code_hash -> Nullable<Text>,
    }
}

diesel::table! {
    account_keys (account_id) {
        account_id -> Text,
        kek_id -> BigInt,
        wrapped -> Binary,
        created_at -> Timestamp,
    }
}

diesel::joinable!(account_keys -> accounts (account_id));
diesel::joinable!(accounts -> organisations (org_id));
diesel::joinable!(sessions -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(organisations, accounts, sessions, account_keys);

diesel::table! {
    security_events (id) {
        id -> Text,
        at -> Timestamp,
        kind -> Text,
        tag -> Text,
        key_id -> BigInt,
        sealed_ip -> Binary,
    }
}

diesel::table! {
    ip_tag_keys (id) {
        id -> Text,
        secret -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ip_blocks (block_hash) {
        block_hash -> Text,
        created_at -> Timestamp,
        until_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        action -> Text,
        reason -> Text,
        row_count -> BigInt,
        actor -> Text,
        subject -> Text,
    }
}

diesel::table! {
    throttle_cells (key) {
        key -> Text,
        tat -> BigInt,
        throttled_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    installation_keys (name) {
        name -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    backfills (name) {
        name -> Text,
        done_at -> Timestamp,
    }
}

// Consent.

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

// Programs, answers, registrations, feedback.

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

// Staff.

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
diesel::allow_tables_to_appear_in_same_query!(code_batch_items, sessions);
diesel::allow_tables_to_appear_in_same_query!(code_batches, accounts);
diesel::allow_tables_to_appear_in_same_query!(staff, accounts);

// Private purchases (no table here joins to `accounts`, by design).

diesel::table! {
    purchases (id) {
        id -> Text,
        stripe_session -> Text,
        program_slug -> Text,
        amount_ore -> BigInt,
        day -> Text,
        status -> Text,
        claim_hash -> Nullable<Text>,
        code_shown -> Bool,
        payment_ref -> Nullable<Text>,
        receipt_sealed -> Nullable<Binary>,
        receipt -> Text,
        receipt_claimed_on -> Nullable<Text>,
    }
}

diesel::table! {
    stripe_events (id) {
        id -> Text,
        day -> Text,
    }
}

// OpenID Connect logins (docs/oidc.md).

diesel::table! {
    oidc_pending (state_hash) {
        state_hash -> Text,
        flow -> Text,
        channel -> Nullable<Text>,
        browser_hash -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        org_id -> Nullable<Text>,
        program_slug -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    launch_links (key_hash) {
        key_hash -> Text,
        account_id -> Text,
        channel -> Text,
        created_at -> Timestamp,
    }
}
