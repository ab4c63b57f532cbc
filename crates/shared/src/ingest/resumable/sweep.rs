//! Removal of abandoned (expired) resumable uploads.

use std::time::Duration;

use chrono::Utc;

use super::{ResumableError, remove};
use crate::{db, ingest::Ingest};

/// How many expired uploads one sweep pass takes at a time.
const SWEEP_BATCH: i64 = 100;

/// Removes uploads that expired more than `grace` ago (the grace lets a completion that
/// started just before the expiry finish); returns how many. Safe to run on every web
/// instance at once: each removal is idempotent.
pub async fn sweep(ctx: Ingest<'_>, grace: Duration) -> Result<usize, ResumableError> {
    let grace = chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::zero());
    let mut removed = 0;
    loop {
        let batch = db::uploads::expired(ctx.db, Utc::now() - grace, SWEEP_BATCH).await?;
        let full = batch.len() as i64 == SWEEP_BATCH;
        let mut progressed = false;
        for upload in batch {
            match remove(ctx, &upload).await {
                Ok(()) => {
                    if db::uploads::delete(ctx.db, upload.id).await? {
                        removed += 1;
                    }
                    progressed = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, upload.id = %upload.id, "could not sweep an expired upload; will try again");
                }
            }
        }
        if !full || !progressed {
            break;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "swept expired resumable uploads");
    }
    Ok(removed)
}
