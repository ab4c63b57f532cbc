//! Group commit of views inside one web instance ([`crate::batch`]).
//!
//! A view request hands `(video, viewer)` to the [`ViewBatcher`] and waits for its
//! outcome; a batch is one call of [`db::views::record_batch`], which raises each video's
//! `views_count` once by the batch's new views of it. A video the whole audience is
//! watching so takes one row update per batch instead of one per viewer (the hot row that
//! capped counted views of one video near 1,350/s on the test machine; docs/PERFORMANCE.md
//! §11). Views never refresh the public caches: counts show up as the cached answers age
//! (`CACHE_TTL_MS`, `CACHE_REDIS_TTL_SECS`).

use sqlx::PgPool;

use crate::{
    batch::{Batcher, Write, WriteError},
    config::VotesConfig,
    db::{
        self,
        views::{ViewOutcome, Viewer},
    },
    metrics::WebMetrics,
};

/// The view batcher of one process. Cheap to clone; its task ends with the last clone.
#[derive(Clone, Debug)]
pub struct ViewBatcher(Batcher<Views>);

impl ViewBatcher {
    /// Starts the batcher on `db`, with the vote batcher's batch size and slots
    /// (`VOTE_BATCH_MAX`, `VOTE_BATCHES_IN_FLIGHT`: the same flood, the same limits).
    pub fn start(db: PgPool, config: &VotesConfig, metrics: WebMetrics) -> Self {
        let views = Views { db, metrics };
        Self(Batcher::start(views, config.batch_max, config.in_flight))
    }

    /// Counts one view; answers once the batch holding it is committed (or failed).
    pub async fn record(&self, video_id: i64, viewer: Viewer) -> Result<ViewOutcome, WriteError> {
        self.0.submit((video_id, viewer)).await
    }
}

/// Views as the batcher writes them.
pub struct Views {
    db: PgPool,
    metrics: WebMetrics,
}

impl Write for Views {
    type Item = (i64, Viewer);
    type Outcome = ViewOutcome;
    const WHAT: &'static str = "view";

    async fn write(&self, views: &[(i64, Viewer)]) -> Result<Vec<ViewOutcome>, sqlx::Error> {
        db::views::record_batch(&self.db, views).await
    }

    async fn committed(&self, _: &[ViewOutcome]) {}

    fn batch_size(&self, size: usize) {
        self.metrics.view_batch(size);
    }
}
