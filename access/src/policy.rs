//! The validated policy model and the pure access decision.
//!
//! Config loading turns the operator's file into these types once; after that, deciding what a
//! user may do with a resource is a pure function of identity + policy, callable from the proxy,
//! the portal and tests alike. Field inheritance from the resource level into group assignments
//! is applied at load time, so every [`Assignment`] here is complete.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{GroupName, ResourceName, UserId};

/// Who someone is, as far as access decisions go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user: UserId,
    pub groups: BTreeSet<GroupName>,
}

impl Identity {
    pub fn new(user: UserId, groups: impl IntoIterator<Item = GroupName>) -> Self {
        Self { user, groups: groups.into_iter().collect() }
    }
}

/// A set of people named by group membership or by email.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Principals {
    pub groups: BTreeSet<GroupName>,
    pub emails: BTreeSet<UserId>,
}

impl Principals {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.emails.is_empty()
    }

    pub fn contains(&self, identity: &Identity) -> bool {
        self.emails.contains(&identity.user) || !self.groups.is_disjoint(&identity.groups)
    }

    /// "group security, dave@example.com": how pages name these people ("" when none).
    pub fn describe(&self) -> String {
        self.groups
            .iter()
            .map(|group| format!("group {group}"))
            .chain(self.emails.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Everyone in `self` or `other`.
    fn extend(&mut self, other: &Principals) {
        self.groups.extend(other.groups.iter().cloned());
        self.emails.extend(other.emails.iter().cloned());
    }
}

/// Which users an assignment applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Audience {
    /// Every signed-in user (`group = "*"` in the config).
    Everyone,
    Group(GroupName),
}

impl Audience {
    pub fn includes(&self, identity: &Identity) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Group(group) => identity.groups.contains(group),
        }
    }
}

impl std::fmt::Display for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Audience::Everyone => f.write_str("*"),
            Audience::Group(group) => write!(f, "{group}"),
        }
    }
}

/// How a JIT request gets approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Approval {
    /// Granted at once; a reason is always required so the audit log says why.
    Auto,
    /// Granted once this many distinct reviewers approved.
    Manual { approvals_needed: NonZeroU32 },
}

/// Everything that governs a just-in-time request. Constructed only by config validation, which
/// guarantees: at least one preset, every preset within `max_duration`, `max_duration` within
/// [`JitPolicy::MAX_DURATION_LIMIT`], and `reason_required` whenever approval is automatic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JitPolicy {
    pub durations: Vec<Duration>,
    pub allow_custom_duration: bool,
    pub max_duration: Duration,
    pub approval: Approval,
    /// Who may review; when empty, the global reviewers do (admins always may).
    pub reviewers: Principals,
    pub reason_required: bool,
    /// How long a request may stay pending before it times out.
    pub pending_timeout: Duration,
    /// Whether an active grant may be switched off and on again (by its holder or a
    /// reviewer) without ending it. Pausing only ever takes access away, so it plays no part
    /// in [`JitPolicy::permissiveness`].
    pub allow_pause: bool,
    /// Whether the holder may ask for more time on an active grant; decided like a request
    /// (automatically or by reviewers under this policy's threshold).
    pub allow_extension: bool,
    /// The longest an access may run in all, from its first grant across every extension;
    /// `None`: only `max_duration` from the moment of each extension bounds it.
    pub max_total: Option<Duration>,
    /// Who may grant themselves access at once in an emergency, even under manual approval;
    /// `None`: nobody. Reviewed after the fact, so it plays no part in
    /// [`JitPolicy::permissiveness`] (which picks among assignments by how they approve).
    pub break_glass: Option<BreakGlass>,
    /// How far ahead a request may name its start (`schedule_ahead`, default 14d); `None`:
    /// access is asked for now only. Scheduling only moves a window later, never widens it,
    /// so it plays no part in [`JitPolicy::permissiveness`].
    pub schedule_ahead: Option<Duration>,
    /// When an approved grant's duration starts to run: at approval, or at the holder's first
    /// request to the resource. When it starts plays no part in
    /// [`JitPolicy::permissiveness`]: it never lengthens access, only moves its window.
    pub starts: Starts,
}

/// The `starts` policy option. `claim_within` belongs to first use alone, so a policy that
/// starts on approval cannot carry one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Starts {
    /// The grant's duration runs from its approval (the default).
    #[default]
    OnApproval,
    /// An approved grant waits for its holder's first request to the resource, through the
    /// proxy; then its duration runs. Unused `claim_within` after approval, it lapses.
    OnFirstUse { claim_within: Duration },
}

impl Starts {
    /// The default `claim_within`: a day to get round to it.
    pub const DEFAULT_CLAIM_WITHIN: Duration = Duration::from_secs(24 * 3600);
}

/// The `break_glass` policy option: members of `groups` may grant themselves access for up
/// to `max_duration` with a reason, no reviewer involved. Both fields are required by config
/// validation, so a policy either names who may break glass and for how long or has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakGlass {
    pub groups: BTreeSet<GroupName>,
    pub max_duration: Duration,
}

impl BreakGlass {
    /// Whether `who` is in one of the groups that may break glass.
    pub fn admits(&self, who: &Identity) -> bool {
        who.groups.iter().any(|group| self.groups.contains(group))
    }
}

impl JitPolicy {
    /// The hard ceiling on any grant: standing access in disguise is what JIT exists to prevent.
    pub const MAX_DURATION_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

    /// The shortest grant anyone may request; shorter ones are almost always typos.
    pub const MIN_DURATION: Duration = Duration::from_secs(60);

    /// Whether `duration` may be requested or approved under this policy.
    pub fn allows_duration(&self, duration: Duration) -> bool {
        if duration > self.max_duration || duration < Self::MIN_DURATION.min(self.max_duration) {
            return false;
        }
        self.allow_custom_duration || self.durations.contains(&duration)
    }

    pub fn approvals_needed(&self) -> u32 {
        match self.approval {
            Approval::Auto => 0,
            Approval::Manual { approvals_needed } => approvals_needed.get(),
        }
    }

    /// Ordering used to pick the most permissive of several matching assignments: automatic
    /// beats manual, fewer approvals beat more, a longer maximum beats a shorter one, custom
    /// durations beat presets only, no reason beats a reason.
    fn permissiveness(&self) -> (bool, std::cmp::Reverse<u32>, Duration, bool, bool) {
        (
            matches!(self.approval, Approval::Auto),
            std::cmp::Reverse(self.approvals_needed()),
            self.max_duration,
            self.allow_custom_duration,
            !self.reason_required,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum AccessMode {
    /// Always allowed, no grant needed (break-glass or exempt groups).
    Standing,
    /// Allowed only with an active grant.
    Jit(JitPolicy),
}

/// One group's access to a resource, with resource-level defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub audience: Audience,
    pub mode: AccessMode,
}

/// The global roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Roles {
    pub admins: Principals,
    pub reviewers: Principals,
    /// Admins reach every resource without a grant unless this is off.
    pub admins_bypass_jit: bool,
}

impl Roles {
    pub fn is_admin(&self, identity: &Identity) -> bool {
        self.admins.contains(identity)
    }
}

/// Why a user has the access they have; shown by `check-config` and the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "audience")]
pub enum Via {
    AdminBypass,
    Assignment(Audience),
}

/// What a user may do with one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access<'a> {
    /// No assignment covers the user: no access and nothing to request.
    NoAccess,
    Standing {
        via: Via,
    },
    Jit {
        policy: &'a JitPolicy,
        via: Audience,
    },
}

/// The policy of one resource: its assignments in config order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourcePolicy {
    pub resource: ResourceName,
    pub assignments: Vec<Assignment>,
}

impl ResourcePolicy {
    /// Resolves what `identity` may do: admin bypass first, then the most permissive of the
    /// assignments that include the user; ties go to the first in config order.
    pub fn resolve<'a>(&'a self, roles: &Roles, identity: &Identity) -> Access<'a> {
        if roles.admins_bypass_jit && roles.is_admin(identity) {
            return Access::Standing { via: Via::AdminBypass };
        }
        let mut best: Option<&Assignment> = None;
        for assignment in self.assignments.iter().filter(|a| a.audience.includes(identity)) {
            best = match best {
                Some(current) if !more_permissive(assignment, current) => Some(current),
                _ => Some(assignment),
            };
        }
        match best {
            None => Access::NoAccess,
            Some(Assignment { audience, mode: AccessMode::Standing }) => {
                Access::Standing { via: Via::Assignment(audience.clone()) }
            }
            Some(Assignment { audience, mode: AccessMode::Jit(policy) }) => {
                Access::Jit { policy, via: audience.clone() }
            }
        }
    }

    /// Whether `reviewer` may decide requests made under `policy` for this resource.
    /// Who may review requests under `policy`: its own reviewers, or the global ones when it
    /// names none (admins always may, and are not listed).
    pub fn reviewers_of<'a>(roles: &'a Roles, policy: &'a JitPolicy) -> &'a Principals {
        if policy.reviewers.is_empty() { &roles.reviewers } else { &policy.reviewers }
    }

    /// Everyone who reviews some request for this resource (admins aside): what a person
    /// refused access is told, so they know whom to ask.
    pub fn all_reviewers(&self, roles: &Roles) -> Principals {
        let mut all = Principals::default();
        for assignment in &self.assignments {
            if let AccessMode::Jit(policy) = &assignment.mode
                && policy.approval != Approval::Auto
            {
                all.extend(Self::reviewers_of(roles, policy));
            }
        }
        all
    }

    pub fn may_review(&self, roles: &Roles, policy: &JitPolicy, reviewer: &Identity) -> bool {
        if roles.is_admin(reviewer) {
            return true;
        }
        if policy.reviewers.is_empty() {
            roles.reviewers.contains(reviewer)
        } else {
            policy.reviewers.contains(reviewer)
        }
    }
}

fn more_permissive(candidate: &Assignment, current: &Assignment) -> bool {
    match (&candidate.mode, &current.mode) {
        (AccessMode::Standing, AccessMode::Standing) => false,
        (AccessMode::Standing, AccessMode::Jit(_)) => true,
        (AccessMode::Jit(_), AccessMode::Standing) => false,
        (AccessMode::Jit(a), AccessMode::Jit(b)) => a.permissiveness() > b.permissiveness(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    pub(crate) fn jit(approval: Approval) -> JitPolicy {
        JitPolicy {
            durations: vec![hours(1), hours(8)],
            allow_custom_duration: false,
            max_duration: hours(8),
            approval,
            reviewers: Principals::default(),
            reason_required: true,
            pending_timeout: hours(24),
            allow_pause: false,
            allow_extension: false,
            max_total: None,
            break_glass: None,
            schedule_ahead: Some(hours(14 * 24)),
            starts: Starts::OnApproval,
        }
    }

    pub(crate) fn manual(n: u32) -> Approval {
        Approval::Manual { approvals_needed: NonZeroU32::new(n).unwrap() }
    }

    fn group(name: &str) -> GroupName {
        GroupName::parse(name).unwrap()
    }

    fn identity(email: &str, groups: &[&str]) -> Identity {
        Identity::new(UserId::parse(email).unwrap(), groups.iter().map(|g| group(g)))
    }

    fn policy(assignments: Vec<Assignment>) -> ResourcePolicy {
        ResourcePolicy { resource: ResourceName::parse("db").unwrap(), assignments }
    }

    fn roles() -> Roles {
        Roles {
            admins: Principals { groups: [group("admins")].into(), emails: BTreeSet::new() },
            reviewers: Principals { groups: [group("security")].into(), emails: BTreeSet::new() },
            admins_bypass_jit: true,
        }
    }

    #[test]
    fn no_matching_assignment_means_no_access() {
        let p = policy(vec![Assignment {
            audience: Audience::Group(group("sre")),
            mode: AccessMode::Standing,
        }]);
        assert_eq!(p.resolve(&roles(), &identity("a@x.io", &["dev"])), Access::NoAccess);
    }

    #[test]
    fn most_permissive_assignment_wins() {
        let p = policy(vec![
            Assignment {
                audience: Audience::Group(group("dev")),
                mode: AccessMode::Jit(jit(manual(2))),
            },
            Assignment {
                audience: Audience::Group(group("sre")),
                mode: AccessMode::Jit(jit(Approval::Auto)),
            },
            Assignment { audience: Audience::Group(group("oncall")), mode: AccessMode::Standing },
        ]);
        let r = roles();
        match p.resolve(&r, &identity("a@x.io", &["dev", "sre"])) {
            Access::Jit { policy, via } => {
                assert_eq!(policy.approval, Approval::Auto);
                assert_eq!(via, Audience::Group(group("sre")));
            }
            other => panic!("expected jit, got {other:?}"),
        }
        assert!(matches!(
            p.resolve(&r, &identity("a@x.io", &["dev", "oncall"])),
            Access::Standing { via: Via::Assignment(_) }
        ));
    }

    #[test]
    fn fewer_approvals_beat_more() {
        let p = policy(vec![
            Assignment {
                audience: Audience::Group(group("a")),
                mode: AccessMode::Jit(jit(manual(2))),
            },
            Assignment { audience: Audience::Everyone, mode: AccessMode::Jit(jit(manual(1))) },
        ]);
        match p.resolve(&roles(), &identity("a@x.io", &["a"])) {
            Access::Jit { policy, .. } => assert_eq!(policy.approvals_needed(), 1),
            other => panic!("expected jit, got {other:?}"),
        }
    }

    #[test]
    fn admins_bypass_unless_configured_not_to() {
        let p = policy(vec![]);
        let mut r = roles();
        let admin = identity("boss@x.io", &["admins"]);
        assert_eq!(p.resolve(&r, &admin), Access::Standing { via: Via::AdminBypass });
        r.admins_bypass_jit = false;
        assert_eq!(p.resolve(&r, &admin), Access::NoAccess);
    }

    #[test]
    fn reviewers_come_from_the_policy_or_else_the_global_role() {
        let p = policy(vec![]);
        let r = roles();
        let mut j = jit(manual(1));
        let security = identity("s@x.io", &["security"]);
        let lead = identity("lead@x.io", &[]);
        assert!(p.may_review(&r, &j, &security));
        assert!(!p.may_review(&r, &j, &lead));
        j.reviewers.emails.insert(UserId::parse("lead@x.io").unwrap());
        assert!(p.may_review(&r, &j, &lead));
        assert!(!p.may_review(&r, &j, &security));
        assert!(p.may_review(&r, &j, &identity("boss@x.io", &["admins"])));
    }

    #[test]
    fn durations_are_checked_against_presets_and_maximum() {
        let mut j = jit(manual(1));
        assert!(j.allows_duration(hours(1)));
        assert!(!j.allows_duration(hours(2)));
        j.allow_custom_duration = true;
        assert!(j.allows_duration(hours(2)));
        assert!(!j.allows_duration(hours(9)));
        assert!(!j.allows_duration(Duration::from_secs(5)));
    }
}

/// Everything policy-related the workflow needs, derived from the config in one piece so a
/// reload can swap it atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicySet {
    pub roles: Roles,
    pub resources: std::collections::BTreeMap<ResourceName, ResourcePolicy>,
}
