//! How the reviewer and admin pages show free text and instants: long reasons and notes
//! clamped to a preview with the whole text one click away (`clamp.html`, a `<details>`: no
//! script, so the strict CSP holds), and times as relative words with the exact time on hover
//! (`time.html`).

use jitgate_access::time::Timestamp;

use super::relative;

/// Texts up to this many characters are shown whole.
const PREVIEW_CHARS: usize = 140;

/// The start of `text` when it is too long to show whole, cut on a word boundary.
pub fn preview(text: &str) -> Option<String> {
    let (cut, _) = text.char_indices().nth(PREVIEW_CHARS)?;
    let head = &text[..cut];
    // Back to the last space, unless the text is one long word.
    let head = match head.rfind(char::is_whitespace) {
        Some(space) if space > cut / 2 => &head[..space],
        _ => head,
    };
    Some(head.trim_end().to_owned())
}

/// An instant as the pages show it: "5m ago", with the exact time on hover and for machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// "2026-11-30 13:53 UTC", for the tooltip.
    pub exact: String,
    /// "5m ago", "in 1h".
    pub relative: String,
}

impl When {
    pub fn of(at: Timestamp, now: Timestamp) -> Self {
        let iso = at.to_string();
        // 2026-11-30T13:53:17.777Z → 2026-11-30 13:53 UTC
        let exact = match (iso.get(..10), iso.get(11..16)) {
            (Some(day), Some(minute)) => format!("{day} {minute} UTC"),
            _ => iso.clone(),
        };
        Self { iso, exact, relative: relative(at, now) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_whole_and_long_ones_cut_between_words() {
        assert_eq!(preview("short"), None);
        let long = "word ".repeat(100);
        let cut = preview(&long).unwrap();
        assert!(cut.len() <= PREVIEW_CHARS && cut.ends_with("word"), "{cut:?}");
        let one_word = "é".repeat(500);
        assert_eq!(preview(&one_word).unwrap().chars().count(), PREVIEW_CHARS);
    }

    #[test]
    fn times_read_relative_with_the_exact_minute() {
        let at = Timestamp::from_millis(1_796_046_797_777); // 2026-11-30T13:53:17.777Z
        let when = When::of(at, at.plus(std::time::Duration::from_secs(300)));
        assert_eq!(when.iso, "2026-11-30T13:53:17.777Z");
        assert_eq!(when.exact, "2026-11-30 13:53 UTC");
        assert_eq!(when.relative, "5m ago");
    }
}
