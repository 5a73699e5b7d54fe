//! A resource's policy as its directory page shows it: one line per group it is assigned to
//! (resource defaults already applied by the config), with durations, approval, who reviews
//! and whether a reason is needed, the way Twingate's and Teleport's resource pages do.

use jitgate_access::config::Resource;
use jitgate_access::policy::{AccessMode, Approval, Audience, JitPolicy, ResourcePolicy, Roles};
use jitgate_access::time::format_duration;

pub struct PolicyLine {
    /// "everyone" or the group's name; `group` is set when it links to a group page.
    pub audience: String,
    pub group: Option<String>,
    /// "Standing access" or "Just-in-time".
    pub mode: &'static str,
    /// "15m, 1h; custom up to 8h" ("" for standing access).
    pub durations: String,
    /// "automatic", "1 reviewer", "2 reviewers".
    pub approval: String,
    /// Who reviews: the policy's own reviewers, else the global ones, plus admins.
    pub reviewers: String,
    pub reason: &'static str,
    pub pending_timeout: String,
}

/// The people who review requests under `policy` (the global reviewers when it names nobody),
/// in words; admins always may.
fn reviewers(roles: &Roles, policy: &JitPolicy) -> String {
    match ResourcePolicy::reviewers_of(roles, policy).describe() {
        named if named.is_empty() => "admins".to_owned(),
        named => format!("{named}; admins"),
    }
}

pub fn policy_lines(resource: &Resource, roles: &Roles) -> Vec<PolicyLine> {
    resource
        .policy
        .assignments
        .iter()
        .map(|assignment| {
            let (audience, group) = match &assignment.audience {
                Audience::Everyone => ("everyone".to_owned(), None),
                Audience::Group(g) => (g.to_string(), Some(g.to_string())),
            };
            match &assignment.mode {
                AccessMode::Standing => PolicyLine {
                    audience,
                    group,
                    mode: "Standing access",
                    durations: String::new(),
                    approval: "none needed".into(),
                    reviewers: String::new(),
                    reason: "",
                    pending_timeout: String::new(),
                },
                AccessMode::Jit(policy) => {
                    let mut durations: Vec<String> =
                        policy.durations.iter().map(|d| format_duration(*d)).collect::<Vec<_>>();
                    if policy.allow_custom_duration {
                        durations
                            .push(format!("custom up to {}", format_duration(policy.max_duration)));
                    }
                    PolicyLine {
                        audience,
                        group,
                        mode: "Just-in-time",
                        durations: durations.join(", "),
                        approval: match policy.approval {
                            Approval::Auto => "automatic".into(),
                            Approval::Manual { approvals_needed }
                                if approvals_needed.get() == 1 =>
                            {
                                "1 reviewer".into()
                            }
                            Approval::Manual { approvals_needed } => {
                                format!("{approvals_needed} reviewers")
                            }
                        },
                        reviewers: match policy.approval {
                            Approval::Auto => String::new(),
                            Approval::Manual { .. } => reviewers(roles, policy),
                        },
                        reason: if policy.reason_required || policy.approval == Approval::Auto {
                            "required"
                        } else {
                            "optional"
                        },
                        pending_timeout: format_duration(policy.pending_timeout),
                    }
                }
            }
        })
        .collect()
}
