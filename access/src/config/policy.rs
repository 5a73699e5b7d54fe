//! `[[resource]]` entries: hosts, upstreams, and the policy of each group assignment after it
//! inherits every unset field from `[resource.policy]` and then from the built-in defaults.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::Duration;

use super::raw::{RawBreakGlass, RawPolicy, RawResource, S};
use super::validate::{Ctx, split_base_url};
use super::{Resource, Upstream};
use crate::ids::{GroupName, ResourceName};
use crate::policy::{
    AccessMode, Approval, Assignment, Audience, BreakGlass, JitPolicy, ResourcePolicy, Starts,
};
use crate::time::format_duration;

const DEFAULT_PRESETS: [Duration; 2] = [Duration::from_secs(3600), Duration::from_secs(8 * 3600)];

pub(crate) fn resources(
    ctx: &mut Ctx<'_>,
    raw: &[RawResource],
    pending_default: Duration,
    portal_host: Option<&str>,
) -> Vec<Resource> {
    let mut names = BTreeSet::new();
    let mut routes = BTreeSet::new();
    let mut resources = Vec::new();
    for entry in raw {
        let label = format!("resource {:?}", entry.name.get_ref());
        let name = match ResourceName::parse(entry.name.get_ref()) {
            Ok(name) => name,
            Err(e) => {
                ctx.problems.add(entry.name.span(), format!("{label}: {e}"));
                continue;
            }
        };
        if !names.insert(name.clone()) {
            ctx.problems.add(entry.name.span(), format!("{label} is defined twice"));
        }
        let host = host(ctx, &entry.host, &label);
        let path_prefix = path_prefix(ctx, entry.path_prefix.as_ref(), &label);
        if let Some(host) = &host {
            if !routes.insert((host.clone(), path_prefix.clone())) {
                ctx.problems.add(
                    entry.host.span(),
                    format!("{label}: another resource already serves {host}{path_prefix}"),
                );
            }
            if portal_host == Some(host.as_str()) {
                ctx.problems
                    .add(entry.host.span(), format!("{label}: host {host} is the portal's host"));
            }
        }
        let upstreams = upstreams(ctx, entry, &label);
        let websocket_origins = websocket_origins(ctx, entry, &label);
        if entry.policy.group.is_some() {
            let span = entry.policy.group.as_ref().map(|g| g.span()).unwrap_or(entry.name.span());
            ctx.problems.add(
                span,
                format!(
                    "{label}: group belongs in a [[resource.assignment]], not in [resource.policy]"
                ),
            );
        }
        // The defaults alone must be valid too, even where every assignment overrides them.
        let _ = access_mode(ctx, &entry.policy, &label, pending_default);
        let assignments = assignments(ctx, entry, &label, pending_default);
        if let Some(host) = host {
            resources.push(Resource {
                policy: ResourcePolicy { resource: name.clone(), assignments },
                name,
                host,
                path_prefix,
                upstreams,
                allow_encoded_slashes: entry.allow_encoded_slashes.unwrap_or(false),
                accept_bearer: entry.accept_bearer.unwrap_or(true),
                websocket_origins,
            });
        }
    }
    resources
}

fn host(ctx: &mut Ctx<'_>, value: &S<String>, label: &str) -> Option<String> {
    let host = value.get_ref().to_ascii_lowercase();
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host.as_str(), None),
    };
    let name_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if name_ok && port_ok {
        Some(host)
    } else {
        ctx.problems.add(value.span(), format!(
            "{label}: host {:?} must be a host name like \"app.example.com\" or \"app.localhost:8080\" (no scheme, no path)",
            value.get_ref()
        ));
        None
    }
}

/// A prefix in the canonical form the proxy matches request paths in: whole segments of
/// characters that need no escaping, no `.`/`..`/empty segments, no trailing slash. `;` is
/// left out because some upstreams cut a segment there.
fn path_prefix(ctx: &mut Ctx<'_>, value: Option<&S<String>>, label: &str) -> String {
    let Some(value) = value else { return "/".into() };
    let prefix = value.get_ref();
    let trimmed = prefix.trim_end_matches('/');
    if prefix.starts_with('/') && trimmed.is_empty() {
        return "/".into();
    }
    let segment_ok = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment.chars().all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,=:@".contains(c))
    };
    if !prefix.starts_with('/') || !trimmed[1..].split('/').all(segment_ok) {
        ctx.problems.add(
            value.span(),
            format!(
                "{label}: path_prefix {prefix:?} must be a plain path like \"/admin\" (segments of letters, digits and -._~!$&'()*+,=:@; no '%', ';', '.' or '..' segments, no '//')"
            ),
        );
    }
    trimmed.to_owned()
}

/// `websocket_origins`: full origins, lower-case, as browsers send them in `Origin`.
fn websocket_origins(ctx: &mut Ctx<'_>, entry: &RawResource, label: &str) -> Vec<String> {
    let mut origins = Vec::new();
    for value in entry.websocket_origins.iter().flatten() {
        match split_base_url(value.get_ref()) {
            Some((scheme, authority)) => origins.push(format!("{scheme}://{authority}")),
            _ => ctx.problems.add(
                value.span(),
                format!(
                    "{label}: websocket_origins entry {:?} must be an origin like \"https://app.example.com\"",
                    value.get_ref()
                ),
            ),
        }
    }
    origins
}

fn upstreams(ctx: &mut Ctx<'_>, entry: &RawResource, label: &str) -> Vec<Upstream> {
    if entry.upstreams.get_ref().is_empty() {
        ctx.problems
            .add(entry.upstreams.span(), format!("{label}: upstreams needs at least one address"));
    }
    let mut upstreams = Vec::new();
    for value in entry.upstreams.get_ref() {
        let Some((scheme, authority)) = split_base_url(value.get_ref()) else {
            ctx.problems.add(value.span(), format!(
                "{label}: upstream {:?} must look like \"http://10.0.0.5:3000\" or \"https://app.internal\"",
                value.get_ref()
            ));
            continue;
        };
        let tls = scheme == "https";
        let has_port = authority.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']'));
        let address = if has_port {
            authority.clone()
        } else {
            format!("{authority}:{}", if tls { 443 } else { 80 })
        };
        let host_part =
            address.rsplit_once(':').map_or(address.as_str(), |(host, _)| host).to_owned();
        upstreams.push(Upstream {
            address,
            tls,
            sni: entry.upstream_sni.as_ref().map_or(host_part, |s| s.get_ref().clone()),
            verify_cert: entry.upstream_tls_verify.unwrap_or(true),
        });
    }
    upstreams
}

fn assignments(
    ctx: &mut Ctx<'_>,
    entry: &RawResource,
    label: &str,
    pending_default: Duration,
) -> Vec<Assignment> {
    let mut seen = BTreeSet::new();
    let mut assignments = Vec::new();
    for raw in &entry.assignments {
        let Some(group) = &raw.group else {
            ctx.problems.add(
                entry.name.span(),
                format!(
                    "{label}: every [[resource.assignment]] needs a group (or \"*\" for everyone)"
                ),
            );
            continue;
        };
        let audience = if group.get_ref() == "*" {
            Audience::Everyone
        } else {
            match GroupName::parse(group.get_ref()) {
                Ok(name) => Audience::Group(name),
                Err(e) => {
                    ctx.problems.add(group.span(), format!("{label}: {e}"));
                    continue;
                }
            }
        };
        if !seen.insert(audience.clone()) {
            ctx.problems.add(
                group.span(),
                format!("{label}: group {:?} is assigned twice", group.get_ref()),
            );
        }
        let assignment_label = format!("{label}, assignment {:?}", group.get_ref());
        let effective = inherit(raw, &entry.policy);
        if let Some(mode) = access_mode(ctx, &effective, &assignment_label, pending_default) {
            assignments.push(Assignment { audience, mode });
        }
    }
    assignments
}

/// The assignment's own fields, and the resource's where the assignment says nothing.
fn inherit(own: &RawPolicy, base: &RawPolicy) -> RawPolicy {
    RawPolicy {
        group: own.group.clone(),
        mode: own.mode.clone().or_else(|| base.mode.clone()),
        durations: own.durations.clone().or_else(|| base.durations.clone()),
        allow_custom_duration: own.allow_custom_duration.or(base.allow_custom_duration),
        max_duration: own.max_duration.clone().or_else(|| base.max_duration.clone()),
        approval: own.approval.clone().or_else(|| base.approval.clone()),
        approvals_needed: own.approvals_needed.clone().or_else(|| base.approvals_needed.clone()),
        reviewers: own.reviewers.clone().or_else(|| base.reviewers.clone()),
        reason_required: own.reason_required.clone().or_else(|| base.reason_required.clone()),
        pending_timeout: own.pending_timeout.clone().or_else(|| base.pending_timeout.clone()),
        allow_pause: own.allow_pause.or(base.allow_pause),
        allow_extension: own.allow_extension.or(base.allow_extension),
        max_total: own.max_total.clone().or_else(|| base.max_total.clone()),
        break_glass: own.break_glass.clone().or_else(|| base.break_glass.clone()),
        schedule_ahead: own.schedule_ahead.clone().or_else(|| base.schedule_ahead.clone()),
        starts: own.starts.clone().or_else(|| base.starts.clone()),
        claim_within: own.claim_within.clone().or_else(|| base.claim_within.clone()),
    }
}

fn access_mode(
    ctx: &mut Ctx<'_>,
    raw: &RawPolicy,
    label: &str,
    pending_default: Duration,
) -> Option<AccessMode> {
    match raw.mode.as_ref().map_or("jit", |m| m.get_ref().as_str()) {
        "standing" => Some(AccessMode::Standing),
        "jit" => jit_policy(ctx, raw, label, pending_default).map(AccessMode::Jit),
        other => {
            let span = raw.mode.as_ref().map(|m| m.span()).unwrap_or(0..0);
            ctx.problems
                .add(span, format!("{label}: mode {other:?} is not one of \"jit\", \"standing\""));
            None
        }
    }
}

fn jit_policy(
    ctx: &mut Ctx<'_>,
    raw: &RawPolicy,
    label: &str,
    pending_default: Duration,
) -> Option<JitPolicy> {
    let limit = JitPolicy::MAX_DURATION_LIMIT;
    // Checks go on after a bad value, so one run reports every problem of the policy.
    let mut valid = true;
    let max_duration = match &raw.max_duration {
        Some(value) => match ctx.duration(value, &format!("{label}: max_duration")) {
            Some(max) if max > limit => {
                ctx.problems.add(
                    value.span(),
                    format!(
                        "{label}: max_duration {:?} exceeds the {} limit",
                        value.get_ref(),
                        format_duration(limit)
                    ),
                );
                valid = false;
                limit
            }
            Some(max) if max < JitPolicy::MIN_DURATION => {
                ctx.problems.add(
                    value.span(),
                    format!("{label}: max_duration {:?} is shorter than 1m", value.get_ref()),
                );
                valid = false;
                limit
            }
            Some(max) => max,
            None => {
                valid = false;
                limit
            }
        },
        None => limit,
    };
    let mut durations = Vec::new();
    match &raw.durations {
        Some(list) => {
            if list.get_ref().is_empty() {
                ctx.problems
                    .add(list.span(), format!("{label}: durations needs at least one preset"));
            }
            for value in list.get_ref() {
                let Some(duration) = ctx.duration(value, &format!("{label}: durations")) else {
                    valid = false;
                    continue;
                };
                if duration > max_duration {
                    valid = false;
                    ctx.problems.add(
                        value.span(),
                        format!(
                            "{label}: duration {:?} exceeds max_duration {}",
                            value.get_ref(),
                            format_duration(max_duration)
                        ),
                    );
                } else if duration < JitPolicy::MIN_DURATION {
                    valid = false;
                    ctx.problems.add(
                        value.span(),
                        format!("{label}: duration {:?} is shorter than 1m", value.get_ref()),
                    );
                } else if !durations.contains(&duration) {
                    durations.push(duration);
                }
            }
        }
        None => durations.extend(DEFAULT_PRESETS.into_iter().filter(|d| *d <= max_duration)),
    }
    if durations.is_empty() {
        durations.push(max_duration);
    }
    durations.sort();
    let approval = match raw.approval.as_ref().map_or("manual", |a| a.get_ref().as_str()) {
        "auto" => Approval::Auto,
        "manual" => {
            let needed = raw.approvals_needed.as_ref().map_or(1, |n| *n.get_ref());
            match u32::try_from(needed).ok().and_then(NonZeroU32::new) {
                Some(approvals_needed) => Approval::Manual { approvals_needed },
                None => {
                    let span = raw.approvals_needed.as_ref().map(|n| n.span()).unwrap_or(0..0);
                    ctx.problems.add(span, format!("{label}: approvals_needed must be at least 1"));
                    return None;
                }
            }
        }
        other => {
            let span = raw.approval.as_ref().map(|a| a.span()).unwrap_or(0..0);
            ctx.problems.add(
                span,
                format!("{label}: approval {other:?} is not one of \"auto\", \"manual\""),
            );
            return None;
        }
    };
    let reason_required = match (&raw.reason_required, approval) {
        (Some(value), Approval::Auto) if !*value.get_ref() => {
            ctx.problems.add(value.span(), format!(
                "{label}: approval = \"auto\" always requires a reason, so reason_required cannot be false"
            ));
            return None;
        }
        (Some(value), _) => *value.get_ref(),
        (None, _) => true,
    };
    let pending_timeout = match &raw.pending_timeout {
        Some(value) => ctx.duration(value, &format!("{label}: pending_timeout"))?,
        None => pending_default,
    };
    let max_total = match &raw.max_total {
        Some(value) => match ctx.duration(value, &format!("{label}: max_total")) {
            Some(total) if total < max_duration => {
                ctx.problems.add(
                    value.span(),
                    format!(
                        "{label}: max_total {:?} is shorter than max_duration {}",
                        value.get_ref(),
                        format_duration(max_duration)
                    ),
                );
                valid = false;
                None
            }
            Some(total) => Some(total),
            None => {
                valid = false;
                None
            }
        },
        None => None,
    };
    let break_glass = match &raw.break_glass {
        Some(value) => match break_glass(ctx, value, label) {
            Some(rule) => Some(rule),
            None => {
                valid = false;
                None
            }
        },
        None => None,
    };
    let schedule_ahead = match &raw.schedule_ahead {
        Some(value) => schedule_ahead(ctx, value, label).unwrap_or_else(|| {
            valid = false;
            None
        }),
        None => Some(DEFAULT_SCHEDULE_AHEAD),
    };
    let starts = starts(ctx, raw, label);
    valid &= starts.is_some();
    let reviewers = raw
        .reviewers
        .as_ref()
        .map(|r| ctx.principals(r, &format!("{label}: reviewers")))
        .unwrap_or_default();
    if !valid {
        return None;
    }
    Some(JitPolicy {
        durations,
        allow_custom_duration: raw.allow_custom_duration.unwrap_or(false),
        max_duration,
        approval,
        reviewers,
        reason_required,
        pending_timeout,
        allow_pause: raw.allow_pause.unwrap_or(false),
        allow_extension: raw.allow_extension.unwrap_or(false),
        max_total,
        break_glass,
        schedule_ahead,
        starts: starts.unwrap_or_default(),
    })
}

/// `schedule_ahead` when a policy says nothing: a request may name a start up to two weeks on.
const DEFAULT_SCHEDULE_AHEAD: Duration = Duration::from_secs(14 * 24 * 3600);
/// The furthest ahead any policy may let a request start: a grant approved a quarter ahead is
/// approved by reviewers who may have moved on by then.
const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(90 * 24 * 3600);

/// Validates `schedule_ahead`: `"off"` (access is asked for now only, `Some(None)`), or a
/// duration from 1m to 90d. `None` when invalid, reported at the field's line.
fn schedule_ahead(ctx: &mut Ctx<'_>, value: &S<String>, label: &str) -> Option<Option<Duration>> {
    if value.get_ref().trim() == "off" {
        return Some(None);
    }
    let ahead = ctx.duration(value, &format!("{label}: schedule_ahead"))?;
    if !(JitPolicy::MIN_DURATION..=MAX_SCHEDULE_AHEAD).contains(&ahead) {
        ctx.problems.add(
            value.span(),
            format!(
                "{label}: schedule_ahead {:?} must be \"off\" or between 1m and 90d",
                value.get_ref()
            ),
        );
        return None;
    }
    Some(Some(ahead))
}

/// Validates `starts` and `claim_within` (after inheritance): `claim_within` from 1s to the
/// 7d limit (default 24h), and never without a `starts`, so a stray one is reported rather
/// than silently ignored.
fn starts(ctx: &mut Ctx<'_>, raw: &RawPolicy, label: &str) -> Option<Starts> {
    let first_use = match raw.starts.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("on_approval", _)) => false,
        Some(("on_first_use", _)) => true,
        Some((other, span)) => {
            let expected = "is not one of \"on_approval\", \"on_first_use\"";
            ctx.problems.add(span, format!("{label}: starts {other:?} {expected}"));
            return None;
        }
    };
    let claim_within = match &raw.claim_within {
        None => Starts::DEFAULT_CLAIM_WITHIN,
        // An assignment starting on approval under a resource default of first use
        // inherits a claim_within it does not use; one with no `starts` anywhere is a slip.
        Some(_) if raw.starts.is_some() && !first_use => Starts::DEFAULT_CLAIM_WITHIN,
        Some(value) if !first_use => {
            let why = "applies only with starts = \"on_first_use\"";
            ctx.problems.add(value.span(), format!("{label}: claim_within {why}"));
            return None;
        }
        Some(value) => {
            let within = ctx.duration(value, &format!("{label}: claim_within"))?;
            if within > JitPolicy::MAX_DURATION_LIMIT || within < Duration::from_secs(1) {
                ctx.problems.add(
                    value.span(),
                    format!(
                        "{label}: claim_within {:?} must be between 1s and 7d",
                        value.get_ref()
                    ),
                );
                return None;
            }
            within
        }
    };
    Some(if first_use { Starts::OnFirstUse { claim_within } } else { Starts::OnApproval })
}

/// Validates a `break_glass` table: at least one valid group, a duration from 1m to the 7d
/// limit. Problems are reported at their own field's line.
fn break_glass(ctx: &mut Ctx<'_>, raw: &S<RawBreakGlass>, label: &str) -> Option<BreakGlass> {
    let field = format!("{label}: break_glass");
    let mut groups = BTreeSet::new();
    let mut valid = true;
    for group in &raw.get_ref().groups {
        match GroupName::parse(group.get_ref()) {
            Ok(name) => {
                groups.insert(name);
            }
            Err(e) => {
                ctx.problems.add(group.span(), format!("{field}.groups: {e}"));
                valid = false;
            }
        }
    }
    if raw.get_ref().groups.is_empty() {
        ctx.problems.add(raw.span(), format!("{field}.groups needs at least one group"));
        valid = false;
    }
    let value = &raw.get_ref().max_duration;
    let max_duration = ctx.duration(value, &format!("{field}.max_duration"))?;
    if max_duration > JitPolicy::MAX_DURATION_LIMIT || max_duration < JitPolicy::MIN_DURATION {
        ctx.problems.add(
            value.span(),
            format!("{field}.max_duration {:?} must be between 1m and 7d", value.get_ref()),
        );
        return None;
    }
    valid.then_some(BreakGlass { groups, max_duration })
}
