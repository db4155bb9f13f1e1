//! Diesel schema shared by both backends. Only types `MultiBackend`
//! supports appear here (Text, BigInt, Bool, Binary, Timestamp).

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
