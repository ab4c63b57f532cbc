//! Organizers: the accounts that run the competition (moderation, rounds, results).
//!
//! Who is an organizer is configuration, not data: `ADMIN_EMAILS` lists their e-mails
//! (comma-separated, any case, blanks ignored). An account with one of these e-mails has
//! the `organizer` role as soon as it exists; removing the e-mail from the list and
//! restarting the web instances takes the role away.

use super::{ConfigError, Source};

/// The organizers' e-mails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizersConfig {
    /// Lower-cased, trimmed, without duplicates.
    emails: Vec<String>,
}

impl OrganizersConfig {
    /// Organizers with these e-mails (any case).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(emails: I) -> Self {
        let mut emails: Vec<String> = emails
            .into_iter()
            .map(|e| e.as_ref().trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        emails.sort();
        emails.dedup();
        Self { emails }
    }

    /// Reads `ADMIN_EMAILS`; an entry without `@` is refused (a typo would otherwise
    /// leave the competition without organizers, silently).
    pub(super) fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let raw = src.get("ADMIN_EMAILS").unwrap_or_default();
        let config = Self::new(raw.split(','));
        if let Some(bad) = config.emails.iter().find(|e| !e.contains('@')) {
            return Err(ConfigError::Invalid {
                name: "ADMIN_EMAILS".into(),
                reason: format!("{bad:?} is not an e-mail address"),
            });
        }
        Ok(config)
    }

    /// Whether the account with this e-mail is an organizer.
    pub fn is_organizer(&self, email: &str) -> bool {
        let email = email.trim().to_lowercase();
        self.emails.binary_search(&email).is_ok()
    }

    /// How many organizers are configured.
    pub fn len(&self) -> usize {
        self.emails.len()
    }

    /// Whether no organizer is configured.
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: &str) -> Result<OrganizersConfig, ConfigError> {
        let value = value.to_owned();
        OrganizersConfig::from_source(&move |name: &str| {
            (name == "ADMIN_EMAILS" && !value.trim().is_empty()).then(|| value.clone())
        })
    }

    #[test]
    fn emails_are_matched_in_any_case_and_blanks_are_ignored() {
        let config = read(" Org@Example.com, ,second@x.org,org@example.COM ").unwrap();
        assert_eq!(config.len(), 2);
        assert!(config.is_organizer("org@example.com"));
        assert!(config.is_organizer("  ORG@EXAMPLE.COM"));
        assert!(config.is_organizer("Second@X.org"));
        assert!(!config.is_organizer("player@example.com"));
        assert!(!config.is_organizer(""));
    }

    #[test]
    fn unset_means_no_organizer_and_a_typo_is_refused() {
        assert!(read("").unwrap().is_empty());
        let err = read("org@example.com;other@example.com, nobody").unwrap_err();
        assert!(err.to_string().contains("ADMIN_EMAILS"), "{err}");
    }
}
