//! The `mestring` binary's library: configuration, key files, the app
//! builder shared by production and tests, background jobs and the CLI.

pub mod app;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod corrections;
pub mod db;
pub mod demo;
pub mod iplayer;
pub mod jobs;
pub mod keys;
pub mod lifecycle;
pub mod purchases;
pub mod restore_pending;
pub mod seed;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
pub use lifecycle::Lifecycle;
