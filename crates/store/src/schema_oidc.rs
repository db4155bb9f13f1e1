//! Diesel tables for OpenID Connect logins (docs/oidc.md).

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
