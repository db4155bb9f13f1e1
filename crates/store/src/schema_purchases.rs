//! Diesel tables for private purchases (kept apart so areas grow
//! independently). No table here joins to `accounts`, by design.

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
    }
}

diesel::table! {
    stripe_events (id) {
        id -> Text,
        day -> Text,
    }
}
