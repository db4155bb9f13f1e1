//! The dashboard proper: overview of codes, a user's page (only while
//! sharing), the access log, deletion records and staff management, one
//! module per page.

mod logs;
mod overview;
mod staff;
mod user;

pub use logs::{access_log, deletions};
pub use overview::home;
pub use staff::{staff_deactivate, staff_invite, staff_list};
pub use user::user;
