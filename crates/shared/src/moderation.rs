//! The rules of moderation that need no database: an organizer's reason.
//!
//! The transactions themselves (hiding, restoring, suspending) are in
//! [`crate::db::moderation`] and [`crate::db::suspension`].

use crate::domain::{FieldError, check_text};

/// Longest reason an organizer may give (the database's check constraints agree).
pub const MAX_REASON_CHARS: usize = 500;

/// Why an organizer hid a video or suspended a player: 1–500 characters once trimmed,
/// no control characters. Shown to the owner of a hidden video and kept in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    /// Checks a reason as sent; the error names the field `reason`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let mut errors = Vec::new();
        check_text("reason", raw, MAX_REASON_CHARS, &mut errors);
        match errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(Self(raw.trim().to_owned())),
        }
    }

    /// The reason, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reason shown on the videos a suspension hides: `owner suspended: <reason>`,
    /// cut to [`MAX_REASON_CHARS`].
    pub fn for_suspended_owner(&self) -> String {
        format!("owner suspended: {}", self.0)
            .chars()
            .take(MAX_REASON_CHARS)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded_trimmed_text() {
        assert_eq!(Reason::parse("  spam  ").unwrap().as_str(), "spam");
        assert!(Reason::parse(&"r".repeat(MAX_REASON_CHARS)).is_ok());
        for bad in ["", "   ", "line\nbreak", "nul\0"] {
            assert_eq!(Reason::parse(bad).unwrap_err().field, "reason", "{bad:?}");
        }
        assert!(Reason::parse(&"r".repeat(MAX_REASON_CHARS + 1)).is_err());
    }

    #[test]
    fn the_suspension_reason_fits_the_column() {
        let long = Reason::parse(&"é".repeat(MAX_REASON_CHARS)).unwrap();
        assert_eq!(long.for_suspended_owner().chars().count(), MAX_REASON_CHARS);
        let short = Reason::parse("cheating").unwrap();
        assert_eq!(short.for_suspended_owner(), "owner suspended: cheating");
    }
}
