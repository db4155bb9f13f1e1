//! Mestring's domain: pure types and rules, no I/O, no database, no web.
//!
//! Everything here is deterministic given its inputs (time comes in as an
//! argument or through [`clock::Clock`]), so it can be property-tested.

pub mod access_code;
pub mod calendar;
pub mod channel;
pub mod clock;
pub mod consent;
pub mod content;
pub mod fhir;
pub mod gcra;
pub mod id;
pub mod oidc;
pub mod periods;
pub mod policy;
pub mod retention;
pub mod scoring;
pub mod suppression;
