//! `serve --demo`: something a newcomer can log in with.

use mestring_domain::access_code::AccessCode;
use mestring_domain::id::Id;
use mestring_store::organisations::OrganisationRow;
use mestring_web::AppState;

/// Name of the organisation the demo creates.
pub const DEMO_ORG: &str = "Demoklinikken";
/// Program the demo codes are issued for.
pub const DEMO_PROGRAM: Option<&str> = None;

/// On an empty database, creates the demo organisation; in any case issues
/// one fresh demo code for it (a stored code cannot be shown again).
/// Returns the codes to print.
pub async fn seed(state: &AppState) -> anyhow::Result<Vec<AccessCode>> {
    let now = state.clock.now();
    let org: Option<Id> = state
        .store
        .run(move |conn| {
            if OrganisationRow::count(conn)? == 0 {
                return OrganisationRow::insert(conn, DEMO_ORG, now).map(Some);
            }
            OrganisationRow::find_by_name(conn, DEMO_ORG).map(|o| o.map(|o| o.id.clone()))
        })
        .await?;
    let Some(org) = org else {
        tracing::warn!("database has data but no demo organisation; no demo code issued");
        return Ok(Vec::new());
    };
    let (_batch, codes) = mestring_dashboard::codes::issue(
        &state.store,
        &state.pepper,
        Some(&state.seal),
        Some(&org),
        None,
        DEMO_PROGRAM,
        1,
        now,
    )
    .await?;
    Ok(codes)
}

/// Creates or re-keys the demo staff member of the demo organisation;
/// `None` when the database has no demo organisation.
pub async fn seed_staff(
    state: &AppState,
) -> anyhow::Result<Option<mestring_dashboard::demo::DemoStaff>> {
    let org = state
        .store
        .run(|conn| OrganisationRow::find_by_name(conn, DEMO_ORG))
        .await?;
    let Some(org) = org else {
        return Ok(None);
    };
    let staff = mestring_dashboard::demo::seed(state, &org.id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(staff))
}
