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

use actix_web::web;

/// Registers the staff routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/staff/login", web::get().to(login::show))
        .route("/staff/login", web::post().to(login::submit))
        .route("/staff/logout", web::post().to(login::logout))
        .route(
            "/staff/invite/{token}",
            web::get().to(invite::show_password),
        )
        .route(
            "/staff/invite/{token}",
            web::post().to(invite::submit_password),
        )
        .route(
            "/staff/invite/{token}/totp",
            web::get().to(invite::show_totp),
        )
        .route(
            "/staff/invite/{token}/totp",
            web::post().to(invite::submit_totp),
        )
        .route("/dashboard", web::get().to(pages::home))
        .route("/dashboard/codes", web::post().to(codes::submit_issue))
        .route("/dashboard/sheets/{id}", web::get().to(codes::show_sheet))
        .route(
            "/dashboard/aggregates",
            web::get().to(aggregates::organisation),
        )
        .route(
            "/dashboard/aggregates.csv",
            web::get().to(aggregates::organisation_csv),
        )
        .route("/dashboard/channel", web::get().to(aggregates::channel))
        .route(
            "/dashboard/channel.csv",
            web::get().to(aggregates::channel_csv),
        )
        .route("/dashboard/profile", web::get().to(profile::show))
        .route(
            "/dashboard/profile/export.json",
            web::get().to(profile::export),
        )
        .route(
            "/dashboard/profile/name",
            web::post().to(profile::submit_name),
        )
        .route(
            "/dashboard/profile/password",
            web::post().to(profile::submit_password),
        )
        .route(
            "/dashboard/profile/totp",
            web::post().to(profile::start_totp),
        )
        .route("/dashboard/profile/totp", web::get().to(profile::show_totp))
        .route(
            "/dashboard/profile/totp/confirm",
            web::post().to(profile::confirm_totp),
        )
        .route("/dashboard/users/{id}", web::get().to(pages::user))
        .route(
            "/dashboard/users/{id}/summary",
            web::get().to(pages::summary),
        )
        .route("/dashboard/access-log", web::get().to(pages::access_log))
        .route("/dashboard/deletions", web::get().to(pages::deletions))
        .route("/dashboard/staff", web::get().to(pages::staff_list))
        .route("/dashboard/staff", web::post().to(pages::staff_invite))
        .route(
            "/dashboard/staff/{id}/edit",
            web::get().to(pages::staff_edit_form),
        )
        .route(
            "/dashboard/staff/{id}/edit",
            web::post().to(pages::staff_edit),
        )
        .route(
            "/dashboard/staff/{id}/deactivate",
            web::post().to(pages::staff_deactivate),
        );
}

pub(crate) use mestring_web::error::throttled;
pub(crate) use mestring_web::fmt::{date as fmt_date, date_time as fmt_date_time};
pub(crate) use mestring_web::page::html_status;
