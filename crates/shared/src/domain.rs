//! Domain types and the rules that do not need a database.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Lifecycle of a video: `uploaded → processing → processed → public`, or `failed`; an
/// organizer may hide a `processed` or `public` video (`hidden`) and restore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    /// Stored and queued.
    Uploaded,
    /// A worker is running the pipeline.
    Processing,
    /// The processed file is ready; the owner may publish it.
    Processed,
    /// Published: listed publicly and open to votes.
    Public,
    /// Gave up after the last attempt; `error` says why.
    Failed,
    /// Hidden by an organizer (or because its owner is suspended): out of the public
    /// list and the rankings until restored to the state it was hidden from.
    Hidden,
}

impl VideoStatus {
    /// Every state, in the order of a video's life.
    pub const ALL: [Self; 6] = [
        Self::Uploaded,
        Self::Processing,
        Self::Processed,
        Self::Public,
        Self::Failed,
        Self::Hidden,
    ];

    /// The name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Processing => "processing",
            Self::Processed => "processed",
            Self::Public => "public",
            Self::Failed => "failed",
            Self::Hidden => "hidden",
        }
    }

    /// Whether the owner may publish a video in this state.
    pub fn can_publish(self) -> bool {
        self == Self::Processed
    }

    /// Whether the owner may delete a video in this state (public videos hold votes; a
    /// hidden one is out of the competition, so its owner may remove it).
    pub fn can_delete(self) -> bool {
        self != Self::Public
    }
}

impl fmt::Display for VideoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of the six states.
#[derive(Debug, thiserror::Error)]
#[error("unknown video status {0:?}")]
pub struct UnknownStatus(String);

impl FromStr for VideoStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "uploaded" => Self::Uploaded,
            "processing" => Self::Processing,
            "processed" => Self::Processed,
            "public" => Self::Public,
            "failed" => Self::Failed,
            "hidden" => Self::Hidden,
            other => return Err(UnknownStatus(other.to_owned())),
        })
    }
}

/// Longest name, city or country accepted.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest e-mail address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted: bcrypt reads at most 72 bytes, longer input would be silently cut.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Longest video title.
pub const MAX_TITLE_CHARS: usize = 255;
/// Most bytes a title field may take as sent (4 UTF-8 bytes per character): a longer
/// field is refused while it streams, never read whole.
pub const MAX_TITLE_BYTES: usize = MAX_TITLE_CHARS * 4;
/// Longest `city` or `q` filter of the public lists.
pub const MAX_FILTER_CHARS: usize = 100;

/// One rule a field breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Field name as in the request body.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Whether `value` holds a control character (Unicode `Cc`: NUL and the rest of C0,
/// DEL, C1). No field of the API is multi-line text, so tab and newline count too.
/// PostgreSQL cannot store NUL at all; the others only garble what other people see.
pub fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// Records an error when `value` holds a control character; `true` when it does.
fn refuse_control(field: &'static str, value: &str, errors: &mut Vec<FieldError>) -> bool {
    let found = has_control(value);
    if found {
        errors.push(FieldError::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    found
}

/// Checks a required text field: no control characters, not blank, at most `max`
/// characters.
pub fn check_text(field: &'static str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if refuse_control(field, value, errors) {
        return;
    }
    let n = value.trim().chars().count();
    if n == 0 {
        errors.push(FieldError::new(field, format!("{field} must not be empty")));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
}

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces
/// or control characters.
pub fn is_valid_email(email: &str) -> bool {
    if email.chars().count() > MAX_EMAIL_CHARS
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// Checks a new password: its length, and no control characters (no keyboard types
/// them, and bcrypt reads NUL as the end of the password).
pub fn check_password(field: &'static str, password: &str, errors: &mut Vec<FieldError>) {
    if refuse_control(field, password, errors) {
        return;
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            field,
            format!("password must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    } else if password.len() > MAX_PASSWORD_BYTES {
        errors.push(FieldError::new(
            field,
            format!("password must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
}

/// Checks the fields of a login: neither may hold a control character nor be longer
/// than sign-up allows (no account can have such an e-mail or password, so saying so
/// reveals nothing). Anything else is for the password check to answer.
pub fn check_login(email: &str, password: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !refuse_control("email", email, &mut errors) && email.chars().count() > MAX_EMAIL_CHARS {
        errors.push(FieldError::new(
            "email",
            format!("email must be at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    if !refuse_control("password", password, &mut errors) && password.len() > MAX_PASSWORD_BYTES {
        errors.push(FieldError::new(
            "password",
            format!("password must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    errors
}

/// Checks a video title as sent: no control characters (not even at the ends), and
/// once trimmed, present and at most [`MAX_TITLE_CHARS`].
pub fn check_title(title: &str, errors: &mut Vec<FieldError>) {
    if refuse_control("title", title, errors) {
        return;
    }
    let title = title.trim();
    if title.is_empty() {
        errors.push(FieldError::new("title", "title is required"));
    } else if title.chars().count() > MAX_TITLE_CHARS {
        errors.push(title_too_long());
    }
}

/// The error of a title over [`MAX_TITLE_CHARS`] (or a title field over
/// [`MAX_TITLE_BYTES`], refused before it is read whole).
pub fn title_too_long() -> FieldError {
    FieldError::new(
        "title",
        format!("title must be at most {MAX_TITLE_CHARS} characters"),
    )
}

/// The error of a title field whose bytes are not UTF-8 text.
pub fn title_not_utf8() -> FieldError {
    FieldError::new("title", "title must be UTF-8 text")
}

/// An optional `city`/`q` filter of the public lists: no control characters (not even
/// at the ends), then trimmed, blank meaning none, at most [`MAX_FILTER_CHARS`].
pub fn search_filter(
    field: &'static str,
    value: Option<String>,
) -> Result<Option<String>, FieldError> {
    if value.as_deref().is_some_and(has_control) {
        return Err(FieldError::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_FILTER_CHARS {
        Err(FieldError::new(
            field,
            format!("{field} must be at most {MAX_FILTER_CHARS} characters"),
        ))
    } else {
        Ok(Some(value))
    }
}

/// A sign-up request after trimming.
#[derive(Debug, Clone)]
pub struct NewPlayer {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail as typed (uniqueness is case-insensitive).
    pub email: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
}

impl NewPlayer {
    /// Validates the fields of a sign-up (not the password confirmation, which is a `400`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_text("first_name", &self.first_name, MAX_NAME_CHARS, &mut errors);
        check_text("last_name", &self.last_name, MAX_NAME_CHARS, &mut errors);
        check_text("city", &self.city, MAX_NAME_CHARS, &mut errors);
        check_text("country", &self.country, MAX_NAME_CHARS, &mut errors);
        if !is_valid_email(&self.email) {
            errors.push(FieldError::new(
                "email",
                "email is not a valid e-mail address",
            ));
        }
        errors
    }

    /// The player's public name: "first last".
    pub fn username(&self) -> String {
        username(&self.first_name, &self.last_name)
    }
}

/// The public name shown in rankings.
pub fn username(first: &str, last: &str) -> String {
    format!("{} {}", first.trim(), last.trim())
}

/// Page and page size of a listing, already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: u32,
    /// Rows per page, 1..=100.
    pub limit: u32,
}

/// Largest page size.
pub const MAX_LIMIT: u32 = 100;
/// Largest page number (keeps OFFSET bounded).
pub const MAX_PAGE: u32 = 10_000;

impl Page {
    /// Validates raw values; `None` means "use the default".
    pub fn new(
        page: Option<i64>,
        limit: Option<i64>,
        default_limit: u32,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(i64::from(default_limit));
        if !(1..=i64::from(MAX_PAGE)).contains(&page) {
            errors.push(FieldError::new(
                "page",
                format!("page must be between 1 and {MAX_PAGE}"),
            ));
        }
        if !(1..=i64::from(MAX_LIMIT)).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                page: page as u32,
                limit: limit as u32,
            })
        } else {
            Err(errors)
        }
    }

    /// Rows to skip.
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }

    /// Position of the first row of this page (1-based).
    pub fn first_position(self) -> i64 {
        self.offset() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_rules() {
        for s in [
            "uploaded",
            "processing",
            "processed",
            "public",
            "failed",
            "hidden",
        ] {
            assert_eq!(s.parse::<VideoStatus>().unwrap().as_str(), s);
        }
        assert!("done".parse::<VideoStatus>().is_err());
        assert!(VideoStatus::Processed.can_publish());
        assert!(!VideoStatus::Uploaded.can_publish());
        assert!(!VideoStatus::Public.can_publish());
        assert!(!VideoStatus::Public.can_delete());
        assert!(VideoStatus::Failed.can_delete());
        assert!(!VideoStatus::Hidden.can_publish());
        assert!(VideoStatus::Hidden.can_delete());
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "first.last+tag@example.com",
            "x@sub-domain.example.org",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@x.com",
            "a@",
            "a@b",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@b@c.com",
            "a@b.com.",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        let mut e = Vec::new();
        check_password("password1", "short", &mut e);
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("at least 8"));
        e.clear();
        check_password("password1", "long enough", &mut e);
        assert!(e.is_empty());
        check_password("password1", &"x".repeat(73), &mut e);
        assert!(e[0].message.contains("72"));
    }

    #[test]
    fn new_player_validation_lists_every_problem() {
        let p = NewPlayer {
            first_name: " ".into(),
            last_name: "L".repeat(101),
            email: "nope".into(),
            city: "Bogotá".into(),
            country: "CO".into(),
        };
        let fields: Vec<_> = p.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["first_name", "last_name", "email"]);
    }

    #[test]
    fn pages() {
        assert_eq!(
            Page::new(None, None, 10).unwrap(),
            Page { page: 1, limit: 10 }
        );
        let p = Page::new(Some(3), Some(25), 10).unwrap();
        assert_eq!((p.offset(), p.first_position()), (50, 51));
        assert!(Page::new(Some(0), None, 10).is_err());
        assert!(Page::new(None, Some(101), 10).is_err());
        assert!(Page::new(None, Some(0), 10).is_err());
        assert_eq!(Page::new(Some(-1), Some(0), 10).unwrap_err().len(), 2);
    }

    #[test]
    fn login_fields_are_bounded_like_sign_up() {
        assert!(
            check_login(
                &"a".repeat(MAX_EMAIL_CHARS),
                &"p".repeat(MAX_PASSWORD_BYTES)
            )
            .is_empty()
        );
        let long: Vec<_> = check_login(&"a".repeat(MAX_EMAIL_CHARS + 1), &"é".repeat(37))
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(long, ["email", "password"]);
    }

    #[test]
    fn control_characters_are_refused_in_every_text_field() {
        let ends = ["trailing\n", "\u{85}leading"];
        for bad in ["a\0b", "tab\there", "line\nbreak", "del\u{7f}", "c1\u{85}"]
            .into_iter()
            .chain(ends)
        {
            let mut e = Vec::new();
            check_text("city", bad, MAX_NAME_CHARS, &mut e);
            assert_eq!(e.len(), 1, "{bad:?}");
            assert!(e[0].message.contains("control characters"), "{e:?}");
            assert!(!is_valid_email(&format!("a{bad}@example.com")), "{bad:?}");
            let mut e = Vec::new();
            check_password("password1", &format!("long enough {bad}"), &mut e);
            assert!(e[0].message.contains("control characters"), "{e:?}");
            let fields: Vec<_> = check_login(bad, bad).into_iter().map(|e| e.field).collect();
            assert_eq!(fields, ["email", "password"]);
            let mut e = Vec::new();
            check_title(bad, &mut e);
            assert_eq!(e[0].field, "title");
            assert_eq!(search_filter("q", Some(bad.into())).unwrap_err().field, "q");
        }
        // Letters of any script are text, not control characters.
        assert!(!has_control("Bogotá Ñandú 東京 🎥"));
        assert!(check_login("ana@example.com", "s3cret pass").is_empty());
    }

    #[test]
    fn titles_and_filters() {
        let mut e = Vec::new();
        check_title("Kick-up", &mut e);
        check_title(&"t".repeat(MAX_TITLE_CHARS), &mut e);
        assert!(e.is_empty());
        check_title("", &mut e);
        check_title(&"t".repeat(MAX_TITLE_CHARS + 1), &mut e);
        assert_eq!(e[0].message, "title is required");
        assert!(e[1].message.contains("at most 255"));
        assert_eq!(search_filter("city", Some("  ".into())).unwrap(), None);
        assert_eq!(
            search_filter("city", Some(" Cali ".into())).unwrap(),
            Some("Cali".into())
        );
        let long = "x".repeat(MAX_FILTER_CHARS + 1);
        assert!(search_filter("q", Some(long)).is_err());
    }

    #[test]
    fn username_joins_trimmed_names() {
        assert_eq!(username(" Ana ", "Gómez"), "Ana Gómez");
    }
}
