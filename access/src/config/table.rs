//! The resolved policy table `check-config` prints, so an operator sees who gets what.

use std::fmt::Write;

use super::Config;
use crate::policy::{AccessMode, Approval, JitPolicy, Principals, Starts};
use crate::time::format_duration;

fn principals(p: &Principals) -> String {
    let mut names: Vec<String> = p.groups.iter().map(|g| format!("group:{g}")).collect();
    names.extend(p.emails.iter().map(ToString::to_string));
    names.join(", ")
}

fn jit_cells(policy: &JitPolicy) -> [String; 11] {
    let durations: Vec<String> = policy.durations.iter().map(|d| format_duration(*d)).collect();
    let approval = match policy.approval {
        Approval::Auto => "auto".to_owned(),
        Approval::Manual { approvals_needed } => format!("manual x{approvals_needed}"),
    };
    let reviewers = if policy.reviewers.is_empty() {
        "global reviewers".to_owned()
    } else {
        principals(&policy.reviewers)
    };
    [
        durations.join(" "),
        format_duration(policy.max_duration),
        if policy.allow_custom_duration { "yes" } else { "no" }.to_owned(),
        approval,
        reviewers,
        if policy.reason_required { "required" } else { "optional" }.to_owned(),
        if policy.allow_pause { "yes" } else { "no" }.to_owned(),
        match (policy.allow_extension, policy.max_total) {
            (false, _) => "no".to_owned(),
            (true, None) => "yes".to_owned(),
            (true, Some(total)) => format!("up to {}", format_duration(total)),
        },
        match &policy.break_glass {
            None => "no".to_owned(),
            Some(rule) => {
                let groups: Vec<String> =
                    rule.groups.iter().map(|g| format!("group:{g}")).collect();
                format!("{} up to {}", groups.join(", "), format_duration(rule.max_duration))
            }
        },
        match policy.schedule_ahead {
            None => "no".to_owned(),
            Some(ahead) => format!("up to {} ahead", format_duration(ahead)),
        },
        match policy.starts {
            Starts::OnApproval => "on approval".to_owned(),
            Starts::OnFirstUse { claim_within } => {
                format!("first use within {}", format_duration(claim_within))
            }
        },
    ]
}

pub fn render_policy_table(config: &Config) -> String {
    let header = [
        "RESOURCE",
        "HOST",
        "WHO",
        "MODE",
        "DURATIONS",
        "MAX",
        "CUSTOM",
        "APPROVAL",
        "REVIEWERS",
        "REASON",
        "PAUSE",
        "EXTEND",
        "BREAK GLASS",
        "SCHEDULE",
        "STARTS",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for resource in &config.resources {
        let route = format!(
            "{}{}",
            resource.host,
            if resource.path_prefix == "/" { "" } else { &resource.path_prefix }
        );
        let mut push = |who: String, mode: &str, rest: [String; 11]| {
            let mut row = vec![resource.name.to_string(), route.clone(), who, mode.to_owned()];
            row.extend(rest);
            rows.push(row);
        };
        if config.roles.admins_bypass_jit && !config.roles.admins.is_empty() {
            push(
                format!("admins ({})", principals(&config.roles.admins)),
                "standing",
                Default::default(),
            );
        }
        if resource.policy.assignments.is_empty() {
            push("(nobody)".into(), "none", Default::default());
        }
        for assignment in &resource.policy.assignments {
            let who = assignment.audience.to_string();
            match &assignment.mode {
                AccessMode::Standing => push(who, "standing", Default::default()),
                AccessMode::Jit(policy) => push(who, "jit", jit_cells(policy)),
            }
        }
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells.zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(|c| if c.is_empty() { "-" } else { c.as_str() }));
    }
    out.push_str("\nA user in several groups gets the most permissive row that includes them; a user in none gets no access.\n");
    if !config.roles.admins_bypass_jit {
        out.push_str("Admins do not bypass JIT (roles.admins_bypass_jit = false).\n");
    }
    out
}
