//! The dashboard proper: overview of codes, a user's page (only while
//! sharing), the access log, deletion records and staff management, one
//! module per page.

mod clinical;
mod logs;
mod overview;
mod staff;
mod summary;
mod user;

pub use logs::{access_log, deletions};
pub use overview::home;
pub use staff::{
    staff_deactivate, staff_edit, staff_edit_form, staff_hpr, staff_invite, staff_list,
};
pub use summary::summary;
pub use user::user;
