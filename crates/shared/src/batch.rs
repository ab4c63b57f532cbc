//! Group commit inside one web instance: the machinery the vote and view batchers share.
//!
//! A request hands its item to a [`Batcher`] and waits for its outcome. The batcher
//! writes items in batches: whenever one of its `in_flight` slots is free it takes every
//! item that has arrived (up to `batch_max`) and writes them with one call of
//! [`Write::write`] — one round trip, one transaction, one WAL flush. Under a light load a
//! batch holds one item and is written at once; under a flood the items that arrive while
//! the slots are busy make the next batches bigger, so the database does per-batch work
//! (a statement, a commit, a counter update per row touched) a few hundred times a second
//! instead of per request.
//!
//! Nothing is acknowledged before PostgreSQL committed it: a request is answered from its
//! own row of the batch's answer, after the commit. When the database fails, every item of
//! the batch gets the error ([`WriteError::Unavailable`] is a `503`); the item may still
//! have been stored (a commit whose answer was lost), never the other way round. A batch
//! refused for another reason is written again one item at a time, so one bad item fails
//! only its own request. A batch that lost a deadlock or serialization race is written
//! again whole. After a batch found the database unreachable, one batch at a time probes
//! it and the others are answered `503` at once, until a probe gets through.
//!
//! The batches are per instance; correctness is the database's (primary keys, lock
//! order), so any number of instances can write at once.

use std::{future::Future, sync::Arc};

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::db;

/// Why an item has no outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// PostgreSQL is down, restarting or overloaded; the item may or may not be stored.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the item for another reason.
    #[error("write failed: {0}")]
    Failed(String),
}

impl From<sqlx::Error> for WriteError {
    fn from(err: sqlx::Error) -> Self {
        if db::is_unavailable(&err) {
            Self::Unavailable(err.to_string())
        } else {
            Self::Failed(err.to_string())
        }
    }
}

/// How one kind of item is written in batches.
pub trait Write: Send + Sync + 'static {
    /// What a request hands in.
    type Item: Copy + Send + Sync + 'static;
    /// What it is answered.
    type Outcome: Copy + Send + Sync + 'static;
    /// The item in log lines ("vote", "view").
    const WHAT: &'static str;

    /// Writes `items` in one transaction: one outcome per item, in their order.
    fn write(
        &self,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Outcome>, sqlx::Error>> + Send;

    /// Runs after a write committed, before its requests are answered.
    fn committed(&self, outcomes: &[Self::Outcome]) -> impl Future<Output = ()> + Send;

    /// A batch of `size` items is about to be written (metrics).
    fn batch_size(&self, size: usize);
}

struct Pending<W: Write> {
    item: W::Item,
    reply: oneshot::Sender<Result<W::Outcome, WriteError>>,
}

/// Items waiting for a batch, at most (requests beyond it wait to hand theirs in).
const QUEUE: usize = 8192;

/// Attempts of a batch that lost a deadlock or serialization race.
const RACE_ATTEMPTS: usize = 3;

/// The batcher of one kind of item in one process. Cheap to clone; its task ends with
/// the last clone.
pub struct Batcher<W: Write> {
    sender: mpsc::Sender<Pending<W>>,
}

impl<W: Write> Clone for Batcher<W> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<W: Write> std::fmt::Debug for Batcher<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batcher({})", W::WHAT)
    }
}

impl<W: Write> Batcher<W> {
    /// Starts the batcher: batches of at most `batch_max` items, `in_flight` at once.
    pub fn start(write: W, batch_max: usize, in_flight: usize) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = Writer {
            write,
            outage: Outage::default(),
        };
        tokio::spawn(collect(
            receiver,
            writer,
            batch_max.max(1),
            in_flight.max(1),
        ));
        Self { sender }
    }

    /// Hands one item in; answers once the batch holding it is committed (or failed).
    pub async fn submit(&self, item: W::Item) -> Result<W::Outcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || WriteError::Unavailable(format!("the {} batcher has stopped", W::WHAT));
        self.sender
            .send(Pending { item, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes items as they arrive and hands them to the writer, one batch per free slot.
async fn collect<W: Write>(
    mut receiver: mpsc::Receiver<Pending<W>>,
    writer: Writer<W>,
    batch_max: usize,
    in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    let writer = Arc::new(writer);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = Vec::with_capacity(batch_max.min(64));
        batch.push(first);
        while batch.len() < batch_max {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let writer = writer.clone();
        tokio::spawn(async move {
            writer.write_batch(batch).await;
            drop(slot);
        });
    }
}

struct Writer<W: Write> {
    write: W,
    outage: Outage,
}

/// Fail fast while the database is down: after a batch failed because PostgreSQL was
/// unreachable, one batch at a time tries again (the probe) and the others are answered
/// `503` at once, instead of each waiting out the pool's connect timeout. The first probe
/// that gets through closes the outage.
#[derive(Default)]
struct Outage(std::sync::Mutex<OutageState>);

#[derive(Default)]
struct OutageState {
    down: bool,
    probing: bool,
}

/// Whether an admitted batch is the outage's probe.
#[derive(Clone, Copy)]
struct Probe(bool);

impl Outage {
    /// `None`: refuse the batch now. `Some`: write it.
    fn admit(&self) -> Option<Probe> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match (state.down, state.probing) {
            (false, _) => Some(Probe(false)),
            (true, false) => {
                state.probing = true;
                Some(Probe(true))
            }
            (true, true) => None,
        }
    }

    /// Records how an admitted batch went.
    fn settle(&self, what: &str, probe: Probe, unavailable: bool) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if probe.0 {
            state.probing = false;
        }
        if unavailable && !state.down {
            tracing::warn!(
                "{what} batches: the database is unreachable; answering 503 at once until a probe batch gets through"
            );
        } else if !unavailable && state.down {
            tracing::info!("{what} batches: the database answers again");
        }
        state.down = unavailable;
    }
}

impl<W: Write> Writer<W> {
    async fn write_batch(&self, batch: Vec<Pending<W>>) {
        let items: Vec<W::Item> = batch.iter().map(|p| p.item).collect();
        self.write.batch_size(items.len());
        let Some(probe) = self.outage.admit() else {
            let e = WriteError::Unavailable(format!(
                "the database did not answer the last {} batch",
                W::WHAT
            ));
            for pending in batch {
                let _ = pending.reply.send(Err(e.clone()));
            }
            return;
        };
        let written = self.write_racing(&items).await;
        self.outage.settle(
            W::WHAT,
            probe,
            matches!(written, Err(WriteError::Unavailable(_))),
        );
        match written {
            Ok(outcomes) => {
                self.write.committed(&outcomes).await;
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    // A client that went away still had its item written; nobody to tell.
                    let _ = pending.reply.send(Ok(outcome));
                }
            }
            Err(WriteError::Failed(e)) if batch.len() > 1 => {
                tracing::warn!(error = %e, what = W::WHAT, size = batch.len(), "batch refused; writing its items one by one");
                for pending in batch {
                    let outcome = self.write_racing(&[pending.item]).await.map(|o| o[0]);
                    if let Ok(outcome) = outcome {
                        self.write.committed(&[outcome]).await;
                    }
                    let _ = pending.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, what = W::WHAT, size = batch.len(), "batch failed");
                for pending in batch {
                    let _ = pending.reply.send(Err(e.clone()));
                }
            }
        }
    }

    async fn write_racing(&self, items: &[W::Item]) -> Result<Vec<W::Outcome>, WriteError> {
        let mut attempt = 1;
        loop {
            match self.write.write(items).await {
                Ok(outcomes) => return Ok(outcomes),
                Err(e) if attempt < RACE_ATTEMPTS && db::is_retryable_race(&e) => {
                    tracing::info!(error = %e, what = W::WHAT, attempt, "batch lost a lock race; writing it again");
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
