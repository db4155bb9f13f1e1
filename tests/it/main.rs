//! End-to-end tests: each test drives the real app over HTTP against a
//! fresh database, on SQLite and (when `MESTRING_TEST_POSTGRES_URL` is set)
//! again on a fresh PostgreSQL database.

mod helpers;

mod aggregates;
mod cli;
mod consent;
mod dashboard;
mod fake_stripe;
mod fhir;
mod indexes;
mod iplayer;
mod lifecycle;
mod login;
mod malformed;
mod nodes;
mod nynorsk;
mod oidc;
mod outage;
mod overview;
mod payments;
mod privacy;
mod profile;
mod program;
mod rectification;
mod reminders;
mod seed;
mod shredding;
mod site;
mod sweep;
mod timeline;
