//! `serve --demo`: a staff account a newcomer can log in with.

use mestring_domain::id::Id;
use mestring_store::staff::{NewStaff, StaffHome, StaffRole, StaffRow};
use mestring_web::{AppError, AppState};
use rand::RngCore;

use crate::totp::{SEAL_PURPOSE, TotpSecret};

/// The demo staff member's e-mail address (a reserved domain).
pub const DEMO_STAFF_EMAIL: &str = "demo.fagperson@mestring.invalid";

/// What `serve --demo` prints. `Debug` is redacted.
pub struct DemoStaff {
    /// E-mail to log in with.
    pub email: String,
    /// A fresh random password.
    pub password: String,
    /// The TOTP secret, base32.
    pub totp_secret: String,
}

impl std::fmt::Debug for DemoStaff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoStaff([REDACTED])")
    }
}

/// Creates (or, on a later start, re-keys) the demo staff member of `org`,
/// a superuser so every dashboard page can be tried. A stored password
/// cannot be shown again, so each start sets a new password and secret.
pub async fn seed(state: &AppState, org: &Id) -> Result<DemoStaff, AppError> {
    login_for(
        &state.store,
        &state.seal,
        &StaffHome::Organisation(org.clone()),
        DEMO_STAFF_EMAIL,
        "Demo Fagperson",
        state.clock.now(),
    )
    .await
}

/// Creates (or re-keys) an active superuser of an organisation, or tool
/// manager of a channel, with a fresh random password and TOTP secret, and
/// returns them: for `serve --demo` and for `mestring seed`, never for real
/// staff (who choose their own password through an invitation).
pub async fn login_for(
    store: &mestring_store::Store,
    seal: &mestring_web::seal::SealKey,
    home: &StaffHome,
    email: &str,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<DemoStaff, AppError> {
    let role = match home {
        StaffHome::Organisation(_) => StaffRole::Superuser,
        StaffHome::Channel(_) => StaffRole::ToolManager,
    };
    let mut raw = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let password = format!("demo-{}", hex::encode(raw));
    let phc = crate::password::hash(password.clone())
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    let secret = TotpSecret::generate();
    let seal = seal.clone();
    let totp_bytes = secret.as_bytes().to_vec();
    let home = home.clone();
    let (email, name) = (email.to_owned(), name.to_owned());
    let login_email = email.clone();
    store
        .transaction(move |conn| {
            let id = match StaffRow::find_by_email(conn, &email)? {
                Some(p) => p.id.clone(),
                None => StaffRow::insert(
                    conn,
                    &NewStaff {
                        home: &home,
                        email: &email,
                        name: &name,
                        role,
                    },
                    now,
                )?,
            };
            let sealed = seal.seal(SEAL_PURPOSE, id.as_str(), &totp_bytes);
            StaffRow::set_credentials(conn, &id, &phc, &sealed)?;
            // Step 0 lies in 1970: any current code is newer.
            StaffRow::activate(conn, &id, 0, now)
        })
        .await?;
    Ok(DemoStaff {
        email: login_email,
        password,
        totp_secret: secret.base32(),
    })
}
