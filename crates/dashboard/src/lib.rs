//! The staff side: clinicians and superusers of an organisation, and tool
//! managers of a channel (group data only).
//!
//! Staff log in at `/staff/login` with e-mail, password and a TOTP code;
//! the dashboard is `/dashboard`. Staff see the codes their organisation
//! issued and, only while a user's sharing consent is active, that user's
//! data. Anything of another organisation is 404.

pub mod aggregates;
pub mod codes;
pub mod demo;
pub mod invite;
mod login;
mod pages;
pub mod password;
mod profile;
pub mod session;
pub mod totp;

use mestring_web::route;
use mestring_web::routes::RouteDef;

/// The staff routes, in registration order.
pub fn routes() -> Vec<RouteDef> {
    vec![
        route!(Get, "/staff/login", Public, login::show),
        route!(Post, "/staff/login", Public, login::submit),
        route!(Post, "/staff/logout", Public, login::logout),
        route!(Get, "/staff/invite/{token}", Public, invite::show_password),
        route!(
            Post,
            "/staff/invite/{token}",
            Public,
            invite::submit_password
        ),
        route!(Get, "/staff/invite/{token}/totp", Public, invite::show_totp),
        route!(
            Post,
            "/staff/invite/{token}/totp",
            Public,
            invite::submit_totp
        ),
        route!(Get, "/dashboard", Staff, pages::home),
        route!(Post, "/dashboard/codes", Staff, codes::submit_issue),
        route!(Get, "/dashboard/sheets/{id}", Staff, codes::show_sheet),
        route!(
            Get,
            "/dashboard/aggregates",
            Staff,
            aggregates::organisation
        ),
        route!(
            Get,
            "/dashboard/aggregates.csv",
            Staff,
            aggregates::organisation_csv
        ),
        route!(Get, "/dashboard/channel", Staff, aggregates::channel),
        route!(
            Get,
            "/dashboard/channel.csv",
            Staff,
            aggregates::channel_csv
        ),
        route!(Get, "/dashboard/profile", Staff, profile::show),
        route!(
            Get,
            "/dashboard/profile/export.json",
            Staff,
            profile::export
        ),
        route!(Post, "/dashboard/profile/name", Staff, profile::submit_name),
        route!(
            Post,
            "/dashboard/profile/password",
            Staff,
            profile::submit_password
        ),
        route!(Post, "/dashboard/profile/totp", Staff, profile::start_totp),
        route!(Get, "/dashboard/profile/totp", Staff, profile::show_totp),
        route!(
            Post,
            "/dashboard/profile/totp/confirm",
            Staff,
            profile::confirm_totp
        ),
        route!(Get, "/dashboard/users/{id}", Staff, pages::user),
        route!(Get, "/dashboard/users/{id}/summary", Staff, pages::summary),
        route!(Get, "/dashboard/access-log", Staff, pages::access_log),
        route!(Get, "/dashboard/deletions", Staff, pages::deletions),
        route!(Get, "/dashboard/staff", Staff, pages::staff_list),
        route!(Post, "/dashboard/staff", Staff, pages::staff_invite),
        route!(
            Get,
            "/dashboard/staff/{id}/edit",
            Staff,
            pages::staff_edit_form
        ),
        route!(Post, "/dashboard/staff/{id}/edit", Staff, pages::staff_edit),
        route!(Post, "/dashboard/staff/{id}/hpr", Staff, pages::staff_hpr),
        route!(
            Post,
            "/dashboard/staff/{id}/deactivate",
            Staff,
            pages::staff_deactivate
        ),
    ]
}

pub(crate) use mestring_web::error::throttled;
pub(crate) use mestring_web::fmt::{date as fmt_date, date_time as fmt_date_time};
pub(crate) use mestring_web::page::html_status;
