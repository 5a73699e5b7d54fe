//! The Pingora edge service. It routes by host to resources, checks the session and the grant
//! on every request, and cuts connections when a grant ends.
//!
//! Not built yet: this crate holds its place in the workspace so the dependency direction
//! (`proxy` → `access`, never the reverse) is fixed from the start. See the proxy issue.
