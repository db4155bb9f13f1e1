//! OpenID Connect logins (docs/oidc.md): logins waiting for their
//! callback, and the keyed links from portal identities to accounts.
//!
//! Invariant: nothing here holds a `sub`, a name or a national identity
//! number; a portal identity is only its [`LaunchKey`].

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mestring_domain::channel::ChannelSlug;
use mestring_domain::id::Id;
use mestring_domain::oidc::{Flow, HprNumber, LaunchKey};

use crate::accounts::{AccountRow, NewAccount};
use crate::schema::staff;
use crate::schema::{launch_links, oidc_pending};
use crate::staff::StaffRow;
use crate::stored_id::StoredOptionalId;
use crate::time::StoredTime;
use crate::{DbConn, StoreError, to_db};

/// A login sent to an identity provider, waiting for its callback.
/// `Debug` is not derived: it holds the nonce and the PKCE verifier.
#[derive(Queryable, Selectable)]
#[diesel(table_name = oidc_pending)]
pub struct PendingLogin {
    state_hash: String,
    flow: String,
    channel: Option<String>,
    /// SHA-256 of the browser-binding cookie.
    pub browser_hash: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier for the code exchange.
    pub pkce_verifier: String,
    #[diesel(deserialize_as = StoredOptionalId)]
    org_id: Option<Id>,
    /// The launch context's program.
    pub program_slug: Option<String>,
    /// When the login began.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
}

/// What a new pending login holds.
pub struct NewPendingLogin<'a> {
    /// SHA-256 of the `state`.
    pub state_hash: &'a str,
    /// The flow.
    pub flow: Flow,
    /// The launch channel.
    pub channel: Option<&'a ChannelSlug>,
    /// SHA-256 of the browser-binding cookie.
    pub browser_hash: &'a str,
    /// The nonce.
    pub nonce: &'a str,
    /// The PKCE verifier.
    pub pkce_verifier: &'a str,
    /// The launch context's organisation.
    pub org_id: Option<&'a Id>,
    /// The launch context's program.
    pub program_slug: Option<&'a str>,
}

impl PendingLogin {
    /// Stores a login about to be sent to the provider.
    pub fn insert(
        conn: &mut DbConn,
        new: &NewPendingLogin<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::insert_into(oidc_pending::table)
            .values((
                oidc_pending::state_hash.eq(new.state_hash),
                oidc_pending::flow.eq(new.flow.as_str()),
                oidc_pending::channel.eq(new.channel.map(ChannelSlug::as_str)),
                oidc_pending::browser_hash.eq(new.browser_hash),
                oidc_pending::nonce.eq(new.nonce),
                oidc_pending::pkce_verifier.eq(new.pkce_verifier),
                oidc_pending::org_id.eq(new.org_id.map(Id::as_str)),
                oidc_pending::program_slug.eq(new.program_slug),
                oidc_pending::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Removes and returns the login with this `state` hash, so a `state`
    /// is honoured at most once (a replay finds nothing).
    pub fn take(conn: &mut DbConn, state_hash: &str) -> Result<Option<Self>, StoreError> {
        let found = oidc_pending::table
            .find(state_hash)
            .select(Self::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            let n = diesel::delete(oidc_pending::table.find(state_hash)).execute(conn)?;
            // Another request took it between the read and the delete.
            if n == 0 {
                return Ok(None);
            }
        }
        Ok(found)
    }

    /// Deletes logins begun before `cutoff`; returns how many.
    pub fn purge_before(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(oidc_pending::table.filter(oidc_pending::created_at.lt(to_db(cutoff))))
                .execute(conn)?,
        )
    }

    /// The flow; an unknown stored word is an error, not a default.
    pub fn flow(&self) -> Result<Flow, StoreError> {
        Flow::parse(&self.flow).ok_or_else(|| StoreError::UnknownValue {
            column: "oidc_pending.flow",
            value: self.flow.clone(),
        })
    }

    /// The launch channel.
    pub fn channel(&self) -> Option<ChannelSlug> {
        self.channel.clone().map(ChannelSlug::from_trusted)
    }

    /// The launch context's organisation.
    pub fn org_id(&self) -> Option<Id> {
        self.org_id.clone()
    }

    /// The stored `state` hash.
    pub fn state_hash(&self) -> &str {
        &self.state_hash
    }
}

/// The account a portal identity launches into.
pub fn account_for_launch(
    conn: &mut DbConn,
    key: &LaunchKey,
) -> Result<Option<AccountRow>, StoreError> {
    let id: Option<String> = launch_links::table
        .find(key.as_str())
        .select(launch_links::account_id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => AccountRow::find(conn, &Id::from_trusted(id)).map(Some),
        None => Ok(None),
    }
}

/// Creates an account for a first launch and links the identity's key to
/// it. The caller holds the transaction (with [`account_for_launch`]).
pub fn create_launched(
    conn: &mut DbConn,
    key: &LaunchKey,
    channel: &ChannelSlug,
    account: &NewAccount<'_>,
    now: DateTime<Utc>,
) -> Result<Id, StoreError> {
    let id = AccountRow::insert(conn, account, now)?;
    diesel::insert_into(launch_links::table)
        .values((
            launch_links::key_hash.eq(key.as_str()),
            launch_links::account_id.eq(id.as_str()),
            launch_links::channel.eq(channel.as_str()),
            launch_links::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Whether the account was created by a portal launch.
pub fn is_launched(conn: &mut DbConn, account: &Id) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        launch_links::table.filter(launch_links::account_id.eq(account.as_str())),
    ))
    .get_result(conn)?)
}

/// The staff account a HelseID login with this HPR number maps to.
pub fn staff_by_hpr(conn: &mut DbConn, hpr: &HprNumber) -> Result<Option<StaffRow>, StoreError> {
    staff::table
        .filter(staff::hpr_number.eq(hpr.as_str()))
        .select(StaffRow::as_select())
        .first(conn)
        .optional()
        .map_err(StoreError::from)
}

/// Sets (or with `None` clears) a staff account's HPR number. `Ok(false)`
/// when another account already has it.
pub fn set_staff_hpr(
    conn: &mut DbConn,
    id: &Id,
    hpr: Option<&HprNumber>,
) -> Result<bool, StoreError> {
    if let Some(h) = hpr
        && let Some(other) = staff_by_hpr(conn, h)?
        && other.id != *id
    {
        return Ok(false);
    }
    diesel::update(staff::table.find(id.as_str()))
        .set(staff::hpr_number.eq(hpr.map(HprNumber::as_str)))
        .execute(conn)?;
    Ok(true)
}

/// A staff account's HPR number, if one is set.
pub fn staff_hpr(conn: &mut DbConn, id: &Id) -> Result<Option<String>, StoreError> {
    Ok(staff::table
        .find(id.as_str())
        .select(staff::hpr_number)
        .first(conn)
        .optional()?
        .flatten())
}

/// Forgets the portal identity linked to an account (its key row).
pub fn unlink(conn: &mut DbConn, account: &Id) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(launch_links::table.filter(launch_links::account_id.eq(account.as_str())))
            .execute(conn)?,
    )
}

/// Marks an invited staff account activated at its first HelseID login
/// (HelseID's identity proofing stands in for the invitation's password
/// and TOTP enrolment); an activated account keeps its date.
pub fn activate_by_helseid(
    conn: &mut DbConn,
    id: &Id,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(
        staff::table
            .find(id.as_str())
            .filter(staff::activated_at.is_null()),
    )
    .set(staff::activated_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(())
}
