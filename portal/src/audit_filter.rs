//! The audit trail's filters as people and scripts give them (query string), turned into a
//! store query that stays inside what the caller may see: admins see everything, reviewers
//! the resources they review.

use jitgate_access::ids::{RequestId, ResourceName};
use jitgate_access::store::AuditQuery;
use jitgate_access::time::Timestamp;
use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditFilter {
    /// RFC 3339 time or a `YYYY-MM-DD` day (inclusive).
    #[serde(default)]
    pub from: String,
    /// RFC 3339 time (exclusive) or a `YYYY-MM-DD` day (inclusive: to the end of that day).
    #[serde(default)]
    pub to: String,
    /// An email, or `system`.
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub request: String,
}

/// Why a filter cannot be used, in words for the person who typed it.
#[derive(Debug, PartialEq, Eq)]
pub enum FilterError {
    Invalid(String),
    /// A reviewer asked for events outside the resources they review.
    OutOfScope,
}

fn parse_time(raw: &str, end_of_day: bool) -> Result<Option<Timestamp>, FilterError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let day = raw.len() == 10 && raw.as_bytes().get(4) == Some(&b'-');
    let text = if day { format!("{raw}T00:00:00Z") } else { raw.to_owned() };
    let parsed = humantime::parse_rfc3339_weak(&text).map_err(|_| {
        FilterError::Invalid(format!("{raw:?} is not a date (2026-11-23) or an RFC 3339 time"))
    })?;
    let at = Timestamp::from_system_time(parsed);
    Ok(Some(if day && end_of_day { at.plus(std::time::Duration::from_secs(86_400)) } else { at }))
}

impl AuditFilter {
    /// The store query for this filter; `scope` is `None` for admins, else the resources the
    /// caller reviews (a reviewer without a resource filter sees the first of theirs).
    pub fn query(
        &self,
        scope: Option<&[ResourceName]>,
        limit: usize,
    ) -> Result<AuditQuery, FilterError> {
        let resource = match self.resource.trim() {
            "" => None,
            raw => Some(
                ResourceName::parse(raw)
                    .map_err(|_| FilterError::Invalid(format!("{raw:?} is not a resource name")))?,
            ),
        };
        let resource = match scope {
            None => resource,
            Some(mine) => match resource {
                Some(chosen) if mine.contains(&chosen) => Some(chosen),
                Some(_) => return Err(FilterError::OutOfScope),
                None => Some(mine.first().cloned().ok_or(FilterError::OutOfScope)?),
            },
        };
        let request_id = match self.request.trim() {
            "" => None,
            raw => Some(
                raw.parse::<RequestId>()
                    .map_err(|_| FilterError::Invalid(format!("{raw:?} is not a request id")))?,
            ),
        };
        let actor = self.actor.trim().to_lowercase();
        Ok(AuditQuery {
            from: parse_time(&self.from, false)?,
            to: parse_time(&self.to, true)?,
            actor: (!actor.is_empty()).then_some(actor),
            resource,
            request_id,
            before: None,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(name: &str) -> ResourceName {
        ResourceName::parse(name).unwrap()
    }

    #[test]
    fn days_cover_whole_days_and_times_are_exact() {
        let filter = AuditFilter {
            from: "2026-11-01".into(),
            to: "2026-11-02".into(),
            ..Default::default()
        };
        let query = filter.query(None, 10).unwrap();
        assert_eq!(query.from.unwrap().to_string(), "2026-11-01T00:00:00.000Z");
        assert_eq!(query.to.unwrap().to_string(), "2026-11-03T00:00:00.000Z");
        let exact = AuditFilter { to: "2026-11-02T10:00:00Z".into(), ..Default::default() };
        assert_eq!(
            exact.query(None, 10).unwrap().to.unwrap().to_string(),
            "2026-11-02T10:00:00.000Z"
        );
        let bad = AuditFilter { from: "last tuesday".into(), ..Default::default() };
        assert!(matches!(bad.query(None, 10), Err(FilterError::Invalid(_))));
    }

    #[test]
    fn reviewers_stay_inside_their_resources() {
        let mine = [resource("db"), resource("grafana")];
        let none = AuditFilter::default();
        assert_eq!(none.query(Some(&mine), 10).unwrap().resource, Some(resource("db")));
        let theirs = AuditFilter { resource: "payroll".into(), ..Default::default() };
        assert_eq!(theirs.query(Some(&mine), 10), Err(FilterError::OutOfScope));
        assert_eq!(theirs.query(None, 10).unwrap().resource, Some(resource("payroll")));
        assert_eq!(none.query(Some(&[]), 10), Err(FilterError::OutOfScope));
    }
}
