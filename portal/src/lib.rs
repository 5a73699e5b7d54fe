//! The request portal (axum + askama): sign-in, requesting access, the review dashboard,
//! exports and the JSON API.
//!
//! Not built yet: this crate holds its place in the workspace so the dependency direction
//! (`portal` → `access`, never the reverse) is fixed from the start. See the portal issue.
