//! Who has what: the access summary behind the resource, group and user pages and their CSV
//! downloads. One row per person and resource: how the policy lets them in (standing or
//! just-in-time, through which group), what holds right now, who granted it, until when, and
//! the reason they last gave.
//!
//! People come from the local users file (when sign-in is local) and from stored requests:
//! with an OIDC provider jitgate never sees the directory, so someone with standing access who
//! never asked for anything is not listed (the page says so).

use std::collections::{BTreeMap, HashMap};

use jitgate_access::config::Resource;
use jitgate_access::ids::{GroupName, ResourceName, UserId};
use jitgate_access::policy::{Access, Approval, Audience, Identity, Via};
use jitgate_access::request::{AccessRequest, RequestState, Status};
use jitgate_access::store::{MAX_PAGE, RequestQuery, StoreError};

use crate::signin::SignIn;
use crate::state::Portal;

/// The most requests one summary reads (newest first); older history is left out and the
/// summary says it is partial.
const SCAN_MAX: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Resource(ResourceName),
    Group(GroupName),
    User(UserId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    pub user: String,
    pub resource: String,
    /// The group the access comes through (`*` for everyone, `admins` for the admin bypass).
    pub group: String,
    /// `standing`, `jit (auto)`, `jit (manual)`, or `none` (history only: the policy no
    /// longer covers this person).
    pub mode: String,
    /// `standing`, `active`, `pending` or `locked`.
    pub status: String,
    pub granted_by: String,
    pub expires_at: String,
    pub last_reason: String,
    /// The request behind `active` or `pending`: what a reviewer acts on from the page (not
    /// in the CSV).
    pub current: Option<AccessRequest>,
}

impl SummaryRow {
    pub const COLUMNS: [&'static str; 8] =
        ["user", "resource", "group", "mode", "status", "granted_by", "expires_at", "last_reason"];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.user.clone(),
            self.resource.clone(),
            self.group.clone(),
            self.mode.clone(),
            self.status.clone(),
            self.granted_by.clone(),
            self.expires_at.clone(),
            self.last_reason.clone(),
        ]
    }
}

pub struct Summary {
    pub rows: Vec<SummaryRow>,
    /// More requests exist than were read: older history is not reflected.
    pub partial: bool,
}

fn audience(audience: &Audience) -> String {
    match audience {
        Audience::Everyone => "*".into(),
        Audience::Group(group) => group.to_string(),
    }
}

/// Who approved a grant, or `auto-approved`.
pub(crate) fn granted_by(request: &AccessRequest) -> String {
    if request.break_glass.is_some() {
        // Not an approval: the holder granted it to themselves.
        "break glass (self-granted)".into()
    } else if request.approvals.is_empty() {
        "auto-approved".into()
    } else {
        request.approved_by()
    }
}

/// What the requests in scope say about one person and resource.
#[derive(Default)]
struct History {
    latest: Option<AccessRequest>,
    active: Option<AccessRequest>,
}

impl Portal {
    fn directory(&self) -> &[jitgate_access::config::LocalUser] {
        match &self.sign_in {
            SignIn::Local(users) => users,
            SignIn::Oidc(_) => &[],
        }
    }

    /// The access summary for `scope`, limited to `resources` (those the viewer may see).
    pub async fn access_summary(
        &self,
        scope: &Scope,
        resources: &[&Resource],
    ) -> Result<Summary, StoreError> {
        let now = self.clock.now();
        let mut people: BTreeMap<UserId, Identity> = self
            .directory()
            .iter()
            .map(|user| {
                (user.email.clone(), Identity::new(user.email.clone(), user.groups.clone()))
            })
            .filter(|(user, identity)| match scope {
                Scope::Resource(_) => true,
                Scope::Group(group) => identity.groups.contains(group),
                Scope::User(wanted) => user == wanted,
            })
            .collect();
        let mut query = RequestQuery { limit: MAX_PAGE, ..RequestQuery::default() };
        match scope {
            Scope::Resource(resource) => query.resources = vec![resource.clone()],
            Scope::Group(group) => query.group = Some(group.clone()),
            Scope::User(user) => query.requester = Some(user.clone()),
        }
        let mut history: HashMap<(UserId, ResourceName), History> = HashMap::new();
        let mut read = 0;
        let partial = loop {
            let page = self.service.store().list_requests(&query).await?;
            read += page.items.len();
            for request in page.items {
                // Newest first: the first request seen for a person is their latest, and its
                // groups are the freshest jitgate knows for someone outside the users file.
                people.entry(request.requester.clone()).or_insert_with(|| {
                    Identity::new(
                        request.requester.clone(),
                        request.requester_groups.iter().cloned(),
                    )
                });
                let entry = history
                    .entry((request.requester.clone(), request.resource.clone()))
                    .or_default();
                if entry.active.is_none() && request.status_at(now) == Status::Active {
                    entry.active = Some(request.clone());
                }
                entry.latest.get_or_insert(request);
            }
            match page.next {
                Some(next) if read < SCAN_MAX => query.before = Some(next),
                Some(_) => break true,
                None => break false,
            }
        };
        let mut rows = Vec::new();
        for identity in people.values() {
            for resource in resources {
                let key = (identity.user.clone(), resource.name.clone());
                let seen = history.remove(&key).unwrap_or_default();
                if let Some(row) = self.summary_row(identity, resource, seen, now) {
                    rows.push(row);
                }
            }
        }
        Ok(Summary { rows, partial })
    }

    fn summary_row(
        &self,
        identity: &Identity,
        resource: &Resource,
        seen: History,
        now: jitgate_access::time::Timestamp,
    ) -> Option<SummaryRow> {
        let last_reason = seen.latest.as_ref().map(|r| r.reason.clone()).unwrap_or_default();
        let mut row = SummaryRow {
            user: identity.user.to_string(),
            resource: resource.name.to_string(),
            group: String::new(),
            mode: String::new(),
            status: "locked".into(),
            granted_by: String::new(),
            expires_at: String::new(),
            last_reason,
            current: None,
        };
        match resource.policy.resolve(&self.config.roles, identity) {
            Access::Standing { via } => {
                row.group = match via {
                    Via::AdminBypass => "admins".into(),
                    Via::Assignment(who) => audience(&who),
                };
                row.mode = "standing".into();
                row.status = "standing".into();
                row.granted_by = "policy".into();
                return Some(row);
            }
            Access::Jit { policy, via } => {
                row.group = audience(&via);
                row.mode = match policy.approval {
                    Approval::Auto => "jit (auto)".into(),
                    Approval::Manual { .. } => "jit (manual)".into(),
                };
            }
            // Only history keeps someone the policy no longer covers on the list.
            Access::NoAccess if seen.latest.is_none() => return None,
            Access::NoAccess => row.mode = "none".into(),
        }
        if let Some(active) = &seen.active
            && let RequestState::Approved { grant } = &active.state
        {
            row.status = "active".into();
            row.granted_by = granted_by(active);
            row.expires_at = grant.expires_at.to_string();
            row.current = Some(active.clone());
        } else if let Some(latest) = seen.latest.filter(|r| r.status_at(now) == Status::Pending) {
            row.status = "pending".into();
            row.current = Some(latest);
        }
        Some(row)
    }
}
