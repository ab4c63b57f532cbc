//! What can go wrong with a resumable upload, and whose fault it is.

use chrono::{DateTime, Utc};

use crate::{
    domain::FieldError,
    inflight::Refused,
    ingest::{AcceptError, Rejection},
    storage::StorageError,
};

/// Why a resumable-upload call failed.
#[derive(Debug, thiserror::Error)]
pub enum ResumableError {
    /// Fields of the declaration break their rules (`422`).
    #[error("invalid upload declaration")]
    Invalid(Vec<FieldError>),
    /// The declared file cannot be accepted (`400`): empty, too large, not an MP4.
    #[error(transparent)]
    Rejected(Rejection),
    /// The player has the most unfinished uploads allowed (`429`).
    #[error("you already have {limit} unfinished uploads; finish or cancel one first")]
    TooManyPending {
        /// The limit.
        limit: usize,
    },
    /// This instance or this player streams too many parts at once (`503`/`429`).
    #[error(transparent)]
    Busy(#[from] Refused),
    /// No such upload for this player (`404`).
    #[error("Upload not found")]
    NotFound,
    /// The upload expired (`410`); the sweep removes it.
    #[error("the upload expired at {0}; start a new one")]
    Expired(DateTime<Utc>),
    /// A part number outside `1..=parts_count` (`400`).
    #[error("part number {part_number} is outside 1–{parts_count}")]
    PartOutOfRange {
        /// The number asked for.
        part_number: u32,
        /// The upload's parts.
        parts_count: u32,
    },
    /// The part sent is longer than it can be (`400`).
    #[error("part {part_number} is larger than its {limit} bytes")]
    PartTooLarge {
        /// The part.
        part_number: u32,
        /// Its size.
        limit: u64,
    },
    /// The part's bytes stopped arriving (client gone or a time limit).
    #[error("the part's bytes stopped arriving: {0}")]
    PartBody(String),
    /// Parts the completion needs are not listed or not stored (`400`).
    #[error("parts missing: {}", list(.0))]
    PartsMissing(Vec<u32>),
    /// The listed parts are not the stored ones (`400`).
    #[error("{0}")]
    PartsMismatch(String),
    /// The stored parts do not add up to the declared size (`400`).
    #[error("the parts hold {stored} bytes but the upload declared {declared}")]
    SizeMismatch {
        /// Declared size.
        declared: u64,
        /// Bytes stored.
        stored: u64,
    },
    /// The accept process refused the assembled file or failed.
    #[error(transparent)]
    Accept(#[from] AcceptError),
    /// Storage failed (`503`).
    #[error("storage unavailable: {0}")]
    Storage(#[from] StorageError),
    /// PostgreSQL failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl ResumableError {
    /// Stable kebab-case code of the client errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation-error",
            Self::Rejected(r) => r.code(),
            Self::TooManyPending { .. } => "too-many-pending-uploads",
            Self::Busy(refused) => refused.code(),
            Self::NotFound => "not-found",
            Self::Expired(_) => "upload-expired",
            Self::PartOutOfRange { .. } => "part-out-of-range",
            Self::PartTooLarge { .. } => "part-too-large",
            Self::PartBody(_) => "bad-part",
            Self::PartsMissing(_) => "parts-missing",
            Self::PartsMismatch(_) => "parts-mismatch",
            Self::SizeMismatch { .. } => "size-mismatch",
            Self::Accept(AcceptError::Rejected(r)) => r.code(),
            Self::Accept(AcceptError::UploadGone) => "not-found",
            Self::Accept(_) | Self::Storage(_) | Self::Database(_) => "service-unavailable",
        }
    }
}

fn list(numbers: &[u32]) -> String {
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
