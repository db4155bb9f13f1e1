//! Staff accounts (clinicians, superusers), their invitations, failed
//! logins and the batches of codes they issue.
//!
//! E-mail addresses are personal data: they are stored to log in and to
//! send invitations, and never logged (log the staff id instead).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use mestring_domain::channel::ChannelSlug;
use mestring_domain::id::Id;

use crate::schema::{
    code_batch_items, code_batches, staff, staff_invitations, staff_login_failures,
};
use crate::stored_id::{StoredId, StoredOptionalId};
use crate::time::{StoredOptionalTime, StoredTime};
use crate::{DbConn, StoreError, to_db};

/// What a staff member may do. Stored as its text in `staff.role`; reading
/// a row whose role this version does not know fails with
/// [`StoreError::UnknownValue`] instead of guessing a role. The database
/// holds the pairing of role and home: a tool manager has a channel and no
/// organisation, everyone else the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum StaffRole {
    /// Sees the organisation's codes and, while sharing, users' data.
    Clinician,
    /// As clinician, plus managing clinicians and reading the access log.
    Superuser,
    /// Staff of a channel: sees the channel's aggregates and deletion
    /// records, never a code, a pseudonym or an individual.
    ToolManager,
}

impl StaffRole {
    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Clinician => "clinician",
            Self::Superuser => "superuser",
            Self::ToolManager => "tool-manager",
        }
    }

    /// Parses the stored (or typed) text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clinician" => Some(Self::Clinician),
            "superuser" => Some(Self::Superuser),
            "tool-manager" => Some(Self::ToolManager),
            _ => None,
        }
    }
}

text_column!(StaffRole, "staff.role");

/// A staff row. `Debug` leaves out the e-mail, the password hash and the
/// sealed TOTP secret.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = staff)]
pub struct StaffRow {
    /// Random id.
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// The organisation this person works for (none for a tool manager).
    #[diesel(deserialize_as = StoredOptionalId)]
    pub org_id: Option<Id>,
    /// The channel a tool manager works for (none for everyone else).
    pub channel: Option<String>,
    /// Lower-cased e-mail address (personal data: never log it).
    pub email: String,
    /// Display name.
    pub name: String,
    role: StaffRole,
    /// Argon2id PHC string, once the invitation was accepted.
    pub password_hash: Option<String>,
    /// The TOTP secret, sealed.
    pub totp_secret: Option<Vec<u8>>,
    /// The last TOTP time step accepted (a code is never accepted twice).
    pub totp_last_step: Option<i64>,
    /// When the account was created (invited).
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the invitation was completed (password and TOTP set).
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub activated_at: Option<DateTime<Utc>>,
    /// When a superuser deactivated this person.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub deactivated_at: Option<DateTime<Utc>>,
    /// When this person last logged in (both factors): this session's
    /// login, once logged in.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub last_login_at: Option<DateTime<Utc>>,
    /// The login before the last one.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub previous_login_at: Option<DateTime<Utc>>,
    /// A new TOTP secret, sealed, waiting to be confirmed (re-enrolment).
    pub pending_totp_secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for StaffRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffRow")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("channel", &self.channel)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Where a staff member works: the one thing their pages are scoped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffHome {
    /// Clinicians and superusers.
    Organisation(Id),
    /// Tool managers.
    Channel(ChannelSlug),
}

/// What a new (invited) staff member needs.
#[derive(Debug)]
pub struct NewStaff<'a> {
    /// Organisation or channel; must match the role (the database checks).
    pub home: &'a StaffHome,
    /// E-mail, already normalised.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Role.
    pub role: StaffRole,
}

/// Normalises an e-mail address for storage and lookup.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl StaffRow {
    /// The organisation id (none for a tool manager).
    pub fn org(&self) -> Option<Id> {
        self.org_id.clone()
    }

    /// Where this person works. The database's check constraints keep
    /// exactly one of organisation and channel set.
    pub fn home(&self) -> Result<StaffHome, StoreError> {
        match (&self.org_id, &self.channel) {
            (Some(org), None) => Ok(StaffHome::Organisation(org.clone())),
            (None, Some(ch)) => Ok(StaffHome::Channel(ChannelSlug::from_trusted(ch.clone()))),
            _ => Err(StoreError::UnknownValue {
                column: "staff.org_id/channel",
                value: "both or neither".to_owned(),
            }),
        }
    }

    /// The role.
    pub fn role(&self) -> StaffRole {
        self.role
    }

    /// Records a completed login: the last one becomes the previous one.
    pub fn record_login(conn: &mut DbConn, id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        diesel::update(staff::table.find(id.as_str()))
            .set((
                staff::previous_login_at.eq(staff::last_login_at),
                staff::last_login_at.eq(Some(to_db(now))),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Sets one's own display name (the profile page; any role).
    pub fn set_own_name(conn: &mut DbConn, id: &Id, name: &str) -> Result<(), StoreError> {
        diesel::update(staff::table.find(id.as_str()))
            .set(staff::name.eq(name))
            .execute(conn)?;
        Ok(())
    }

    /// Corrects the display name of a member of `org`; false when there
    /// is no such member.
    pub fn set_name(conn: &mut DbConn, org: &Id, id: &Id, name: &str) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff::table
                .find(id.as_str())
                .filter(staff::org_id.eq(org.as_str())),
        )
        .set(staff::name.eq(name))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Corrects the e-mail of a member of `org` (already normalised);
    /// `Conflict` when another account has it, false when no such member.
    pub fn set_email(
        conn: &mut DbConn,
        org: &Id,
        id: &Id,
        email: &str,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff::table
                .find(id.as_str())
                .filter(staff::org_id.eq(org.as_str())),
        )
        .set(staff::email.eq(email))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Replaces the password hash.
    pub fn set_password(conn: &mut DbConn, id: &Id, hash: &str) -> Result<(), StoreError> {
        diesel::update(staff::table.find(id.as_str()))
            .set(staff::password_hash.eq(Some(hash)))
            .execute(conn)?;
        Ok(())
    }

    /// Stores (or clears) a new sealed TOTP secret awaiting confirmation.
    pub fn set_pending_totp(
        conn: &mut DbConn,
        id: &Id,
        sealed: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        diesel::update(staff::table.find(id.as_str()))
            .set(staff::pending_totp_secret.eq(sealed))
            .execute(conn)?;
        Ok(())
    }

    /// Makes the pending TOTP secret the active one, confirmed with `step`
    /// of it, if it is still `checked` (the sealed secret the code was
    /// checked against); false when nothing, or another secret, is pending.
    /// A second tab that started re-enrolment again after the code was
    /// checked replaced the pending secret: promoting that one would lock
    /// out a person whose authenticator holds the first.
    pub fn confirm_pending_totp(
        conn: &mut DbConn,
        id: &Id,
        checked: &[u8],
        step: i64,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff::table
                .find(id.as_str())
                .filter(staff::pending_totp_secret.eq(checked)),
        )
        .set((
            staff::totp_secret.eq(staff::pending_totp_secret),
            staff::pending_totp_secret.eq(None::<Vec<u8>>),
            staff::totp_last_step.eq(Some(step)),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Whether this person may log in: activated and not deactivated.
    pub fn is_active(&self) -> bool {
        self.activated_at.is_some() && self.deactivated_at.is_none()
    }

    /// Creates an invited staff member; `Conflict` if the e-mail is taken.
    pub fn insert(
        conn: &mut DbConn,
        new: &NewStaff<'_>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        diesel::insert_into(staff::table)
            .values((
                staff::id.eq(id.as_str()),
                staff::org_id.eq(match new.home {
                    StaffHome::Organisation(org) => Some(org.as_str()),
                    StaffHome::Channel(_) => None,
                }),
                staff::channel.eq(match new.home {
                    StaffHome::Organisation(_) => None,
                    StaffHome::Channel(ch) => Some(ch.as_str()),
                }),
                staff::email.eq(normalise_email(new.email)),
                staff::name.eq(new.name),
                staff::role.eq(new.role.as_str()),
                staff::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(id)
    }

    /// Finds a staff member by id.
    pub fn find(conn: &mut DbConn, id: &Id) -> Result<Self, StoreError> {
        staff::table
            .find(id.as_str())
            .select(Self::as_select())
            .first(conn)
            .map_err(StoreError::from)
    }

    /// Finds a staff member by e-mail (normalised here).
    pub fn find_by_email(conn: &mut DbConn, email: &str) -> Result<Option<Self>, StoreError> {
        staff::table
            .filter(staff::email.eq(normalise_email(email)))
            .select(Self::as_select())
            .first(conn)
            .optional()
            .map_err(StoreError::from)
    }

    /// Everyone in an organisation, by name.
    pub fn list_for_org(conn: &mut DbConn, org: &Id) -> Result<Vec<Self>, StoreError> {
        staff::table
            .filter(staff::org_id.eq(org.as_str()))
            .order((staff::name.asc(), staff::id.asc()))
            .select(Self::as_select())
            .load(conn)
            .map_err(StoreError::from)
    }

    /// Stores a password and a new sealed TOTP secret, replacing any (the
    /// demo and test fixtures; an invitation uses
    /// [`StaffRow::set_invited_credentials`]).
    pub fn set_credentials(
        conn: &mut DbConn,
        id: &Id,
        password_hash: &str,
        sealed_totp: &[u8],
    ) -> Result<(), StoreError> {
        diesel::update(staff::table.find(id.as_str()))
            .set((
                staff::password_hash.eq(Some(password_hash)),
                staff::totp_secret.eq(Some(sealed_totp)),
                staff::totp_last_step.eq(None::<i64>),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The invitation's first step: stores the chosen password and a new
    /// sealed TOTP secret while the account is not active yet; `false`
    /// once it is. The check is part of the update, so a second tab's
    /// password step cannot replace the secret of an account activated a
    /// moment before (which would lock its owner out).
    pub fn set_invited_credentials(
        conn: &mut DbConn,
        id: &Id,
        password_hash: &str,
        sealed_totp: &[u8],
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff::table
                .find(id.as_str())
                .filter(staff::activated_at.is_null()),
        )
        .set((
            staff::password_hash.eq(Some(password_hash)),
            staff::totp_secret.eq(Some(sealed_totp)),
            staff::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Marks the account active (TOTP confirmed with `step`), whatever
    /// its state (fixtures; an invitation uses [`StaffRow::activate_invited`]).
    pub fn activate(
        conn: &mut DbConn,
        id: &Id,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::update(staff::table.find(id.as_str()))
            .set((
                staff::activated_at.eq(Some(to_db(now))),
                staff::totp_last_step.eq(Some(step)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The invitation's last step: activates the account only while it is
    /// inactive and its stored secret is still `verified_totp`, the one
    /// the code was checked against; `false` otherwise (a password step in
    /// another tab replaced the secret since).
    pub fn activate_invited(
        conn: &mut DbConn,
        id: &Id,
        verified_totp: &[u8],
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff::table
                .find(id.as_str())
                .filter(staff::activated_at.is_null())
                .filter(staff::totp_secret.eq(Some(verified_totp))),
        )
        .set((
            staff::activated_at.eq(Some(to_db(now))),
            staff::totp_last_step.eq(Some(step)),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Records the TOTP step just used, only if it is newer than the last
    /// one; returns false when the step was already used (a replay).
    pub fn claim_totp_step(conn: &mut DbConn, id: &Id, step: i64) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff::table.find(id.as_str()).filter(
                staff::totp_last_step
                    .is_null()
                    .or(staff::totp_last_step.lt(step)),
            ),
        )
        .set(staff::totp_last_step.eq(Some(step)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Deactivates a member of `org`; returns false if there is no such
    /// member in that organisation. Sessions are ended by the caller in
    /// the same transaction.
    pub fn deactivate(
        conn: &mut DbConn,
        org: &Id,
        id: &Id,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff::table
                .find(id.as_str())
                .filter(staff::org_id.eq(org.as_str()))
                .filter(staff::deactivated_at.is_null()),
        )
        .set(staff::deactivated_at.eq(Some(to_db(now))))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Records a failed login for the per-account limit and forgets
    /// failures older than the window.
    pub fn record_failure(
        conn: &mut DbConn,
        id: &Id,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Self::insert_failure(conn, &Id::generate(), id, window, now)
    }

    fn insert_failure(
        conn: &mut DbConn,
        failure: &Id,
        id: &Id,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::delete(
            staff_login_failures::table
                .filter(staff_login_failures::staff_id.eq(id.as_str()))
                .filter(staff_login_failures::at.lt(to_db(now - window))),
        )
        .execute(conn)?;
        diesel::insert_into(staff_login_failures::table)
            .values((
                staff_login_failures::id.eq(failure.as_str()),
                staff_login_failures::staff_id.eq(id.as_str()),
                staff_login_failures::at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Takes one attempt at `id`'s password or TOTP code before it is
    /// checked: `Some(attempt)` while the account is under
    /// [`STAFF_FAILURES_PER_HOUR`](policy::throttle::STAFF_FAILURES_PER_HOUR)
    /// failures in the window, the attempt counted as a failure until
    /// [`StaffRow::forgive_attempt`] removes it; `None` at the limit (nothing
    /// is recorded, and the caller refuses without checking). Counting and
    /// recording under the staff row's lock keeps concurrent guesses
    /// within the limit; counted only after a slow password check, every
    /// guess in flight saw the same count. Run inside a transaction.
    pub fn reserve_attempt(
        conn: &mut DbConn,
        id: &Id,
        now: DateTime<Utc>,
    ) -> Result<Option<Id>, StoreError> {
        use mestring_domain::policy::throttle::{STAFF_FAILURE_WINDOW, STAFF_FAILURES_PER_HOUR};
        if !crate::conn::in_transaction(conn)? {
            return Err(StoreError::Query(diesel::result::Error::NotInTransaction));
        }
        if let DbConn::Pg(pg) = conn {
            // NO KEY UPDATE: the failure rows' foreign key takes KEY SHARE
            // on the staff row, which this must not wait for.
            staff::table
                .find(id.as_str())
                .select(staff::id)
                .for_no_key_update()
                .first::<String>(pg)
                .optional()?;
        }
        if Self::recent_failures(conn, id, STAFF_FAILURE_WINDOW, now)? >= STAFF_FAILURES_PER_HOUR {
            return Ok(None);
        }
        let attempt = Id::generate();
        Self::insert_failure(conn, &attempt, id, STAFF_FAILURE_WINDOW, now)?;
        Ok(Some(attempt))
    }

    /// Removes an attempt [`StaffRow::reserve_attempt`] took, once it
    /// succeeded.
    pub fn forgive_attempt(conn: &mut DbConn, attempt: &Id) -> Result<(), StoreError> {
        diesel::delete(staff_login_failures::table.find(attempt.as_str())).execute(conn)?;
        Ok(())
    }

    /// Failed logins within `window` before `now`.
    pub fn recent_failures(
        conn: &mut DbConn,
        id: &Id,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        staff_login_failures::table
            .filter(staff_login_failures::staff_id.eq(id.as_str()))
            .filter(staff_login_failures::at.ge(to_db(now - window)))
            .count()
            .get_result(conn)
            .map_err(StoreError::from)
    }
}

/// A one-time invitation link, stored by the SHA-256 of its token.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff_invitations)]
pub struct InvitationRow {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Who is invited.
    #[diesel(deserialize_as = StoredId)]
    pub staff_id: Id,
    /// When the invitation was created.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the invitation stops working.
    #[diesel(deserialize_as = StoredTime)]
    pub expires_at: DateTime<Utc>,
    /// When it was used to activate the account, if it was.
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub used_at: Option<DateTime<Utc>>,
}

impl InvitationRow {
    /// Stores a new invitation valid until `expires_at`.
    pub fn insert(
        conn: &mut DbConn,
        token_hash: &str,
        staff_id: &Id,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::insert_into(staff_invitations::table)
            .values((
                staff_invitations::token_hash.eq(token_hash),
                staff_invitations::staff_id.eq(staff_id.as_str()),
                staff_invitations::created_at.eq(to_db(now)),
                staff_invitations::expires_at.eq(to_db(expires_at)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The invitation and its staff member, if it is unused, unexpired and
    /// the person is not deactivated.
    pub fn find_open(
        conn: &mut DbConn,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Self, StaffRow)>, StoreError> {
        let found: Option<(Self, StaffRow)> = staff_invitations::table
            .inner_join(staff::table)
            .filter(staff_invitations::token_hash.eq(token_hash))
            .select((Self::as_select(), StaffRow::as_select()))
            .first(conn)
            .optional()?;
        Ok(found.filter(|(inv, person)| {
            inv.used_at.is_none()
                && now < inv.expires_at
                && person.deactivated_at.is_none()
                && person.activated_at.is_none()
        }))
    }

    /// Marks the invitation used; false if it was already used.
    pub fn mark_used(
        conn: &mut DbConn,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            staff_invitations::table
                .find(token_hash)
                .filter(staff_invitations::used_at.is_null()),
        )
        .set(staff_invitations::used_at.eq(Some(to_db(now))))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// A batch of codes issued at once (CLI or dashboard).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = code_batches)]
pub struct CodeBatchRow {
    /// Random id (in the sheet's URL).
    #[diesel(deserialize_as = StoredId)]
    pub id: Id,
    /// Issuing organisation.
    #[diesel(deserialize_as = StoredId)]
    pub org_id: Id,
    /// Who issued it from the dashboard; `None` for the CLI.
    #[diesel(deserialize_as = StoredOptionalId)]
    pub staff_id: Option<Id>,
    /// Program slug.
    pub program_slug: Option<String>,
    /// When the batch was issued.
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: DateTime<Utc>,
    /// When the code sheet was shown, if it was (it is shown once).
    #[diesel(deserialize_as = StoredOptionalTime)]
    pub sheet_shown_at: Option<DateTime<Utc>>,
}

impl CodeBatchRow {
    /// Creates a batch and returns its id.
    pub fn insert(
        conn: &mut DbConn,
        org: &Id,
        staff_id: Option<&Id>,
        program: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Id, StoreError> {
        let id = Id::generate();
        diesel::insert_into(code_batches::table)
            .values((
                code_batches::id.eq(id.as_str()),
                code_batches::org_id.eq(org.as_str()),
                code_batches::staff_id.eq(staff_id.map(Id::as_str)),
                code_batches::program_slug.eq(program),
                code_batches::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        Ok(id)
    }

    /// Adds an account to a batch, with the HMAC of the code as issued.
    pub fn add_item(
        conn: &mut DbConn,
        batch: &Id,
        account: &Id,
        issued_hash: &str,
    ) -> Result<(), StoreError> {
        diesel::insert_into(code_batch_items::table)
            .values((
                code_batch_items::account_id.eq(account.as_str()),
                code_batch_items::batch_id.eq(batch.as_str()),
                code_batch_items::issued_hash.eq(issued_hash),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// A batch of `org` (another organisation's batch is `NotFound`).
    pub fn find_for_org(conn: &mut DbConn, org: &Id, id: &Id) -> Result<Self, StoreError> {
        code_batches::table
            .find(id.as_str())
            .filter(code_batches::org_id.eq(org.as_str()))
            .select(Self::as_select())
            .first(conn)
            .map_err(StoreError::from)
    }

    /// Marks the batch's code sheet as shown, unless it already was.
    /// Returns `None` the first time (show it now), or when it was shown.
    /// Atomic: two requests racing for the same sheet cannot both get it.
    pub fn claim_sheet(
        conn: &mut DbConn,
        org: &Id,
        id: &Id,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let claimed = diesel::update(
            code_batches::table
                .find(id.as_str())
                .filter(code_batches::org_id.eq(org.as_str()))
                .filter(code_batches::sheet_shown_at.is_null()),
        )
        .set(code_batches::sheet_shown_at.eq(Some(to_db(now))))
        .execute(conn)?;
        if claimed == 1 {
            return Ok(None);
        }
        let row = Self::find_for_org(conn, org, id)?;
        Ok(Some(row.sheet_shown_at.unwrap_or(now)))
    }

    /// The accounts still in a batch.
    pub fn account_ids(conn: &mut DbConn, batch: &Id) -> Result<Vec<Id>, StoreError> {
        let ids: Vec<String> = code_batch_items::table
            .filter(code_batch_items::batch_id.eq(batch.as_str()))
            .order(code_batch_items::account_id.asc())
            .select(code_batch_items::account_id)
            .load(conn)?;
        Ok(ids.into_iter().map(Id::from_trusted).collect())
    }

    /// The account issued with the code whose HMAC is `issued_hash`, if
    /// `org` issued it (found even after the user rotated their code).
    pub fn account_by_issued_hash(
        conn: &mut DbConn,
        org: &Id,
        issued_hash: &str,
    ) -> Result<Option<Id>, StoreError> {
        let id: Option<String> = code_batch_items::table
            .inner_join(code_batches::table)
            .filter(code_batch_items::issued_hash.eq(issued_hash))
            .filter(code_batches::org_id.eq(org.as_str()))
            .select(code_batch_items::account_id)
            .first(conn)
            .optional()?;
        Ok(id.map(Id::from_trusted))
    }
}

/// The accounts an organisation issued, newest first, one page.
pub fn org_accounts_page(
    conn: &mut DbConn,
    org: &Id,
    limit: i64,
    offset: i64,
) -> Result<Vec<crate::accounts::AccountRow>, StoreError> {
    use crate::accounts::AccountRow;
    use crate::schema::accounts;
    accounts::table
        .filter(accounts::org_id.eq(org.as_str()))
        .order((accounts::created_at.desc(), accounts::id.asc()))
        .limit(limit)
        .offset(offset)
        .select(AccountRow::as_select())
        .load(conn)
        .map_err(StoreError::from)
}

/// The organisation's accounts among `ids`, in the order of `ids`
/// (another organisation's ids are left out).
pub fn org_accounts_by_ids(
    conn: &mut DbConn,
    org: &Id,
    ids: &[String],
) -> Result<Vec<crate::accounts::AccountRow>, StoreError> {
    use crate::accounts::AccountRow;
    use crate::schema::accounts;
    // The organisation is checked on the rows, not in the query: see
    // `consent::read_shared_accounts` (SQLite would walk its index).
    let mut rows: Vec<AccountRow> = accounts::table
        .filter(accounts::id.eq_any(ids))
        .select(AccountRow::as_select())
        .load(conn)?;
    rows.retain(|r| r.org_id.as_ref().is_some_and(|o| o == org));
    let position: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    rows.sort_by_key(|r| position.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    Ok(rows)
}

/// How many accounts an organisation has issued (still existing).
pub fn org_accounts_count(conn: &mut DbConn, org: &Id) -> Result<i64, StoreError> {
    use crate::schema::accounts;
    accounts::table
        .filter(accounts::org_id.eq(org.as_str()))
        .count()
        .get_result(conn)
        .map_err(StoreError::from)
}

/// One account of `org` (another organisation's is `None`).
pub fn org_account(
    conn: &mut DbConn,
    org: &Id,
    account: &Id,
) -> Result<Option<crate::accounts::AccountRow>, StoreError> {
    use crate::accounts::AccountRow;
    use crate::schema::accounts;
    accounts::table
        .find(account.as_str())
        .filter(accounts::org_id.eq(org.as_str()))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
        .map_err(StoreError::from)
}

#[cfg(test)]
mod tests {

    use chrono::{DateTime, Duration, Utc};
    use diesel::prelude::*;
    use mestring_domain::id::Id;
    use mestring_domain::policy::throttle::{STAFF_FAILURE_WINDOW, STAFF_FAILURES_PER_HOUR};

    use super::StaffRow;
    use crate::conn::transaction_on;
    use crate::schema::{organisations, staff};
    use crate::{DatabaseUrl, Store, to_db};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).expect("a valid time")
    }

    /// An invited clinician, not active yet.
    fn staff_member(store: &Store) -> Id {
        let person = Id::generate();
        let p = person.clone();
        store
            .run_blocking(move |conn| {
                let org = Id::generate();
                diesel::insert_into(organisations::table)
                    .values((
                        organisations::id.eq(org.as_str()),
                        organisations::name.eq("Klinikk"),
                        organisations::created_at.eq(to_db(now())),
                    ))
                    .execute(conn)?;
                diesel::insert_into(staff::table)
                    .values((
                        staff::id.eq(p.as_str()),
                        staff::org_id.eq(Some(org.as_str())),
                        staff::email.eq(format!("{}@example.org", p.as_str())),
                        staff::name.eq("Kari"),
                        staff::role.eq("clinician"),
                        staff::created_at.eq(to_db(now())),
                    ))
                    .execute(conn)
                    .map_err(crate::StoreError::from)
            })
            .expect("a staff member");
        person
    }

    /// The invitation's steps change an account only in the state they
    /// were checked in: no new secret once active, no activation with a
    /// secret that was replaced after the code was checked.
    #[test]
    fn invitation_steps_act_only_on_what_they_checked() {
        let dir = crate::conn::test_dir("staff-invite");
        let url = format!("sqlite://{}/db.sqlite", dir.display());
        let store = Store::connect(&DatabaseUrl::parse(&url).expect("url"), 2).expect("store");
        store.migrate().expect("migrations");
        let person = staff_member(&store);
        let p = person.clone();
        let (first, second, stale, current, again, replaced) = store
            .run_blocking(move |conn| {
                let first = StaffRow::set_invited_credentials(conn, &p, "phc-a", b"secret-a")?;
                let second = StaffRow::set_invited_credentials(conn, &p, "phc-b", b"secret-b")?;
                let stale = StaffRow::activate_invited(conn, &p, b"secret-a", 5, now())?;
                let current = StaffRow::activate_invited(conn, &p, b"secret-b", 5, now())?;
                let again = StaffRow::activate_invited(conn, &p, b"secret-b", 6, now())?;
                let replaced = StaffRow::set_invited_credentials(conn, &p, "phc-c", b"secret-c")?;
                Ok((first, second, stale, current, again, replaced))
            })
            .expect("steps");
        assert!(
            first && second,
            "before activation the password step may repeat"
        );
        assert!(!stale, "not with the secret a later step replaced");
        assert!(current, "with the secret stored");
        assert!(!again, "once");
        assert!(!replaced, "no new secret for an active account");
        let p = person.clone();
        let row = store
            .run_blocking(move |conn| StaffRow::find(conn, &p))
            .expect("the member");
        assert_eq!(row.totp_secret.as_deref(), Some(&b"secret-b"[..]));
        assert_eq!(row.password_hash.as_deref(), Some("phc-b"));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Re-enrolment confirms only the pending secret its code was checked
    /// against, once.
    #[test]
    fn re_enrolment_confirms_only_the_secret_it_checked() {
        let dir = crate::conn::test_dir("staff-reenrol");
        let url = format!("sqlite://{}/db.sqlite", dir.display());
        let store = Store::connect(&DatabaseUrl::parse(&url).expect("url"), 2).expect("store");
        store.migrate().expect("migrations");
        let person = staff_member(&store);
        let p = person.clone();
        let (stale, current, again) = store
            .run_blocking(move |conn| {
                StaffRow::set_invited_credentials(conn, &p, "phc", b"secret-old")?;
                StaffRow::activate_invited(conn, &p, b"secret-old", 5, now())?;
                StaffRow::set_pending_totp(conn, &p, Some(b"secret-a"))?;
                // Another tab starts again before the first tab's code,
                // checked against secret-a, is stored.
                StaffRow::set_pending_totp(conn, &p, Some(b"secret-b"))?;
                let stale = StaffRow::confirm_pending_totp(conn, &p, b"secret-a", 7)?;
                let current = StaffRow::confirm_pending_totp(conn, &p, b"secret-b", 7)?;
                let again = StaffRow::confirm_pending_totp(conn, &p, b"secret-b", 8)?;
                Ok((stale, current, again))
            })
            .expect("steps");
        assert!(!stale, "not a secret replaced since its code was checked");
        assert!(current, "the secret still pending");
        assert!(!again, "once");
        let p = person.clone();
        let row = store
            .run_blocking(move |conn| StaffRow::find(conn, &p))
            .expect("the member");
        assert_eq!(row.totp_secret.as_deref(), Some(&b"secret-b"[..]));
        assert_eq!(row.pending_totp_secret, None);
        assert_eq!(row.totp_last_step, Some(7));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// One attempt short of the limit, an attempt in flight (counted, not
    /// yet committed) and a second one at the same moment: the second
    /// waits for the first and is refused. Counted without the lock, both
    /// saw one below the limit and both were checked.
    fn the_last_attempt_is_taken_once(url: &str) {
        let store = Store::connect(&DatabaseUrl::parse(url).expect("url"), 4).expect("store");
        store.migrate().expect("migrations");
        let person = staff_member(&store);
        let p = person.clone();
        store
            .run_blocking(move |conn| {
                for _ in 1..STAFF_FAILURES_PER_HOUR {
                    StaffRow::record_failure(conn, &p, STAFF_FAILURE_WINDOW, now())?;
                }
                Ok(())
            })
            .expect("a staff member one failure short of the limit");

        let (p, q) = (person.clone(), person.clone());
        let (first, second) = crate::testing::while_held(
            &store,
            move |conn| StaffRow::reserve_attempt(conn, &p, now()),
            move |conn| transaction_on(conn, |conn| StaffRow::reserve_attempt(conn, &q, now())),
        );
        let first = first.expect("the first attempt");
        let second = second.expect("the second attempt");
        assert!(first.is_some(), "the last attempt under the limit");
        assert_eq!(second, None, "the limit is reached");
        let p = person.clone();
        let counted = store
            .run_blocking(move |conn| {
                StaffRow::recent_failures(conn, &p, STAFF_FAILURE_WINDOW, now())
            })
            .expect("count");
        assert_eq!(counted, STAFF_FAILURES_PER_HOUR);
        // A forgiven attempt frees its place; outside a transaction
        // nothing is taken.
        let (p, attempt) = (person.clone(), first.expect("checked above"));
        store
            .run_blocking(move |conn| StaffRow::forgive_attempt(conn, &attempt))
            .expect("forgive");
        let again = store
            .run_blocking(move |conn| {
                let outside = StaffRow::reserve_attempt(conn, &p, now() + Duration::seconds(1));
                assert!(outside.is_err(), "needs a transaction");
                transaction_on(conn, |conn| {
                    StaffRow::reserve_attempt(conn, &p, now() + Duration::seconds(1))
                })
            })
            .expect("reserve again");
        assert!(again.is_some());
        drop(store);
    }

    #[test]
    fn the_last_attempt_is_taken_once_on_sqlite() {
        let dir = crate::conn::test_dir("staff-attempts");
        the_last_attempt_is_taken_once(&format!("sqlite://{}/db.sqlite", dir.display()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_last_attempt_is_taken_once_on_postgres() {
        crate::testing::with_postgres_database("mestring_staff_attempts", |url| {
            the_last_attempt_is_taken_once(url);
        });
    }
}
