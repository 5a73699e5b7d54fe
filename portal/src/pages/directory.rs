//! The directory: resources, groups and users, each with its access summary on screen and as
//! a CSV download (`?format=csv`). Admins see every resource; reviewers the ones they review.
//! On a user's page, admins can also end all of that user's sessions.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures_util::stream;
use jitgate_access::config::Resource;
use jitgate_access::ids::{GroupName, ResourceName, UserId};
use jitgate_access::policy::{AccessMode, Approval, Audience};
use jitgate_access::request::Status;
use jitgate_access::store::RequestQuery;
use serde::Deserialize;

use super::decide::Actions;
use super::text::When;
use super::{Nav, encode, render};
use crate::csrf::{CsrfField, CsrfForm};
use crate::error::PortalError;
use crate::export::csv_download;
use crate::flash::Flash;
use crate::paths;
use crate::policy_view::{PolicyLine, policy_lines};
use crate::signin::SignIn;
use crate::state::Portal;
use crate::summary::{Scope, SummaryRow};
use crate::viewer::Viewer;

#[derive(Debug, Default, Deserialize)]
pub struct Format {
    #[serde(default)]
    format: String,
}

pub struct ResourceLine {
    pub name: String,
    pub host: String,
    pub policy: String,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPage {
    nav: Nav,
    resources: Vec<ResourceLine>,
    groups: Vec<String>,
    people: Vec<PersonLine>,
}

/// Someone in the directory: everyone who has signed in (the people records), and the local
/// users file's people who never have.
pub struct PersonLine {
    pub email: String,
    pub name: String,
    pub groups: String,
    /// "3h ago" / "never"; `None` for never.
    pub last_seen: Option<When>,
    pub active_grants: usize,
}

/// The most people the directory lists, and active requests it counts grants from.
const PEOPLE_SHOWN: usize = 1000;
const ACTIVE_COUNTED: usize = 2000;

/// A summary row as the page shows it: the CSV's row plus times in words, granted vs asked,
/// and what the viewer may do on the request behind it.
pub struct ScreenRow {
    pub row: SummaryRow,
    pub expires: Option<When>,
    /// "for 1h" or "granted 15m (asked 1h)" for an active or pending request ("" otherwise).
    pub duration: String,
    pub actions: Option<Actions>,
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryPage {
    nav: Nav,
    kind: &'static str,
    name: String,
    rows: Vec<ScreenRow>,
    /// The resource's policy per group (resource pages only).
    policy: Vec<PolicyLine>,
    partial: bool,
    csv: String,
    /// The dashboard narrowed to this resource, group or user, to approve and deny from.
    requests: String,
    oidc: bool,
    /// Where an admin ends this user's sessions (user pages, admins only).
    end_sessions: Option<String>,
}

impl Portal {
    /// The resources `viewer` may see summaries of.
    fn visible_resources(&self, viewer: &Viewer) -> Vec<&Resource> {
        self.config
            .resources
            .iter()
            .filter(|r| viewer.is_admin || viewer.reviews.contains(&r.name))
            .collect()
    }
}

impl Portal {
    fn screen_row(&self, viewer: &Viewer, row: SummaryRow, back: &str) -> ScreenRow {
        let now = self.clock.now();
        let current = row.current.as_ref();
        ScreenRow {
            expires: current
                .and_then(|r| r.grant())
                .filter(|_| row.status == "active")
                .map(|grant| When::of(grant.expires_at, now)),
            duration: current.map(crate::outcome::duration_phrase).unwrap_or_default(),
            actions: current.map(|r| self.actions(viewer, r, now, back.to_owned())),
            row,
        }
    }
}

fn require_reviewer(viewer: &Viewer) -> Result<(), PortalError> {
    if viewer.is_reviewer() {
        Ok(())
    } else {
        Err(PortalError::Forbidden("only admins and reviewers see the directory".into()))
    }
}

fn policy_line(resource: &Resource) -> String {
    let parts: Vec<String> = resource
        .policy
        .assignments
        .iter()
        .map(|assignment| {
            let who = match &assignment.audience {
                Audience::Everyone => "everyone".to_owned(),
                Audience::Group(group) => group.to_string(),
            };
            let how = match &assignment.mode {
                AccessMode::Standing => "standing".to_owned(),
                AccessMode::Jit(policy) => match policy.approval {
                    Approval::Auto => "JIT, automatic".to_owned(),
                    Approval::Manual { approvals_needed } if approvals_needed.get() > 1 => {
                        format!("JIT, {approvals_needed} approvals")
                    }
                    Approval::Manual { .. } => "JIT, approval".to_owned(),
                },
            };
            format!("{who}: {how}")
        })
        .collect();
    parts.join("; ")
}

/// `GET /access`.
pub async fn index(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PortalError> {
    require_reviewer(&viewer)?;
    let visible = portal.visible_resources(&viewer);
    let mut groups = BTreeSet::new();
    for resource in &visible {
        for assignment in &resource.policy.assignments {
            if let Audience::Group(group) = &assignment.audience {
                groups.insert(group.to_string());
            }
        }
    }
    let people = people(&portal).await?;
    let resources = visible
        .iter()
        .map(|r| ResourceLine {
            name: r.name.to_string(),
            host: r.host.clone(),
            policy: policy_line(r),
        })
        .collect();
    render(&DirectoryPage {
        nav: portal.nav(&viewer).await?,
        resources,
        groups: groups.into_iter().collect(),
        people,
    })
}

/// Everyone who has signed in, with their last sign-in and how many grants they hold now;
/// then the local users who never signed in.
async fn people(portal: &Portal) -> Result<Vec<PersonLine>, PortalError> {
    let now = portal.clock.now();
    let mut grants: std::collections::BTreeMap<String, usize> = Default::default();
    let mut query = RequestQuery {
        statuses: vec![Status::Active],
        limit: jitgate_access::store::MAX_PAGE,
        ..RequestQuery::default()
    };
    let mut counted = 0;
    while counted < ACTIVE_COUNTED {
        let page = portal.service.store().list_requests(&query).await?;
        counted += page.items.len();
        for request in page.items.iter().filter(|r| r.status_at(now) == Status::Active) {
            *grants.entry(request.requester.to_string()).or_default() += 1;
        }
        match page.next {
            Some(next) => query.before = Some(next),
            None => break,
        }
    }
    let mut lines: Vec<PersonLine> = portal
        .service
        .people(PEOPLE_SHOWN)
        .await?
        .into_iter()
        .map(|person| {
            let email = person.identity.user.to_string();
            PersonLine {
                active_grants: grants.get(&email).copied().unwrap_or(0),
                name: person.name.unwrap_or_default(),
                groups: person
                    .identity
                    .groups
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                last_seen: Some(When::of(person.last_seen, now)),
                email,
            }
        })
        .collect();
    if let SignIn::Local(users) = &portal.sign_in {
        for user in users {
            let email = user.email.to_string();
            if !lines.iter().any(|line| line.email == email) {
                lines.push(PersonLine {
                    active_grants: grants.get(&email).copied().unwrap_or(0),
                    groups: user
                        .groups
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    name: String::new(),
                    last_seen: None,
                    email,
                });
            }
        }
    }
    Ok(lines)
}

async fn summary(
    portal: Portal,
    viewer: Viewer,
    scope: Scope,
    format: &str,
) -> Result<Response, PortalError> {
    require_reviewer(&viewer)?;
    let (kind, key, name) = match &scope {
        Scope::Resource(r) => ("Resource", "resource", r.to_string()),
        Scope::Group(g) => ("Group", "group", g.to_string()),
        Scope::User(u) => ("User", "user", u.to_string()),
    };
    let path = paths::directory_entry(key, &name);
    let requests = paths::review_tab("pending", format!("&{key}={}", encode(&name)));
    let resources: Vec<&Resource> = match &scope {
        Scope::Resource(wanted) => {
            let found: Vec<&Resource> = portal
                .visible_resources(&viewer)
                .into_iter()
                .filter(|r| &r.name == wanted)
                .collect();
            if found.is_empty() {
                return Err(PortalError::NotFound);
            }
            found
        }
        _ => portal.visible_resources(&viewer),
    };
    let summary = portal.access_summary(&scope, &resources).await?;
    match format {
        "csv" => {
            let rows: Vec<Vec<String>> = summary.rows.iter().map(SummaryRow::cells).collect();
            let filename = format!("jitgate-{}-{}.csv", kind.to_lowercase(), sanitize(&name));
            Ok(csv_download(&filename, &SummaryRow::COLUMNS, stream::once(async { Ok(rows) })))
        }
        "" => render(&SummaryPage {
            end_sessions: (viewer.is_admin && matches!(scope, Scope::User(_)))
                .then(|| paths::directory_user_end_sessions(&name)),
            nav: portal.nav(&viewer).await?,
            kind,
            policy: match &scope {
                Scope::Resource(_) => resources
                    .first()
                    .map(|r| policy_lines(r, &portal.config.roles))
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
            rows: summary
                .rows
                .into_iter()
                .map(|row| portal.screen_row(&viewer, row, &path))
                .collect(),
            name,
            partial: summary.partial,
            csv: format!("{path}?format=csv"),
            requests,
            oidc: matches!(portal.sign_in, SignIn::Oidc(_)),
        }),
        other => Err(PortalError::BadRequest(format!("{other:?} is not an export format"))),
    }
}

/// A name made safe for a download's file name.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// `GET /access/resources/{name}`.
pub async fn resource(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(format): Query<Format>,
) -> Result<Response, PortalError> {
    let name = ResourceName::parse(&name).map_err(|_| PortalError::NotFound)?;
    summary(portal, viewer, Scope::Resource(name), &format.format).await
}

/// `GET /access/groups/{name}`.
pub async fn group(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(format): Query<Format>,
) -> Result<Response, PortalError> {
    let name = GroupName::parse(&name).map_err(|_| PortalError::NotFound)?;
    summary(portal, viewer, Scope::Group(name), &format.format).await
}

/// `GET /access/users/{email}`.
pub async fn user(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(email): Path<String>,
    Query(format): Query<Format>,
) -> Result<Response, PortalError> {
    let user = UserId::parse(&email).map_err(|_| PortalError::NotFound)?;
    summary(portal, viewer, Scope::User(user), &format.format).await
}

/// `POST /access/users/{email}/sessions/end`: an admin signs the user out everywhere at once
/// (the proxies hear of it through the store's change feed). The confirmation is the
/// disclosure the button sits in on the user's page.
pub async fn end_sessions(
    State(portal): State<Portal>,
    Path(email): Path<String>,
    CsrfForm { viewer, .. }: CsrfForm<CsrfField>,
) -> Result<Response, PortalError> {
    let user = UserId::parse(&email).map_err(|_| PortalError::NotFound)?;
    let ended = portal.service.end_sessions_of(viewer.identity(), &user).await?;
    tracing::info!(admin = %viewer.identity().user, %user, ended, "ended a user's sessions");
    let sessions = if ended == 1 { "session" } else { "sessions" };
    let text = format!(
        "Ended {ended} {sessions} of {user}: they are signed out of jitgate and of every app they opened through it."
    );
    portal.flash_redirect(&paths::directory_user(&user), Flash::done(text))
}
