//! Reading a scheduled start. The API takes RFC 3339 with an explicit offset (`Z` or
//! `±HH:MM`), so a script is never misread for lack of a zone. The request form's field is a
//! browser `datetime-local` (`YYYY-MM-DDTHH:MM`, no zone at all): the form says next to it
//! that it is read as UTC, and that is how it is read here. Nothing guesses a zone.

use jitgate_access::time::Timestamp;

/// An RFC 3339 instant with its offset: `2026-12-01T09:00:00Z`, `2026-12-01T10:00:00+01:00`,
/// fractions of a second allowed. Anything else, including a missing offset, is an error
/// saying what to write.
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    let invalid = || {
        format!(
            "{text:?} is not an RFC 3339 time with an offset; write it like \
             2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00"
        )
    };
    let (local, offset_minutes) = split_offset(text).ok_or_else(invalid)?;
    let utc = humantime::parse_rfc3339_weak(local).map_err(|_| invalid())?;
    let millis = Timestamp::from_system_time(utc).as_millis() - offset_minutes * 60_000;
    Ok(Timestamp::from_millis(millis))
}

/// The request form's `YYYY-MM-DDTHH:MM` (seconds allowed), read as UTC.
pub fn parse_form_utc(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if text.contains(['Z', 'z', '+']) || text.len() > 19 {
        return Err(format!("{text:?} is not a date and time like 2026-12-01T09:00 (UTC)"));
    }
    // Browsers send minutes only; humantime wants the seconds.
    let full = if text.len() == 16 { format!("{text}:00") } else { text.to_owned() };
    humantime::parse_rfc3339_weak(&full)
        .map(Timestamp::from_system_time)
        .map_err(|_| format!("{text:?} is not a date and time like 2026-12-01T09:00 (UTC)"))
}

/// `text` without its offset, and the offset in minutes east of UTC; `None` without one.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let split = text.len().checked_sub(6)?;
    let (local, offset) = (text.get(..split)?, text.get(split..)?);
    let sign = match offset.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 || !local.contains('T') && !local.contains(' ') {
        return None;
    }
    Some((local, sign * (hours * 60 + minutes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_applied_and_a_missing_zone_is_refused() {
        let utc = parse_rfc3339("2026-12-01T09:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-12-01T10:00:00+01:00").unwrap(), utc);
        assert_eq!(parse_rfc3339("2026-12-01T04:30:00.000-04:30").unwrap(), utc);
        assert!(parse_rfc3339("2026-12-01T09:00:00").is_err(), "no zone, no guess");
        assert!(parse_rfc3339("tomorrow").is_err());
        assert!(parse_rfc3339("2026-12-01T09:00:00+25:00").is_err());
        assert_eq!(parse_form_utc("2026-12-01T09:00").unwrap(), utc);
        assert!(parse_form_utc("2026-12-01T09:00Z").is_err(), "the form's field has no zone");
    }
}
