//! Group commit: one task per store takes every append waiting in its queue,
//! decides them together and writes them in one transaction. Concurrent
//! commands share one fsync instead of paying one each, and since a single
//! transaction at a time assigns positions, positions stay dense and in
//! commit order.

use std::future::Future;

use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Result, StoreError};
use crate::model::{AppendRequest, Appended};
use crate::plan::{Chaining, LogState, Plan, metadata_json, plan};

/// Most appends decided in one transaction; bounds latency and statement size.
const MAX_BATCH_REQUESTS: usize = 1024;
/// Most events written in one transaction.
const MAX_BATCH_EVENTS: usize = 8192;
/// Appends that may wait for the writer before callers are held back.
const QUEUE_CAPACITY: usize = 16 * 1024;

/// The answers for one batch, in request order, and the new head when the
/// batch wrote anything.
pub(crate) type BatchOutcome = (Vec<Result<Appended>>, Option<i64>);

/// A backend's way of writing one decided batch in one transaction.
pub(crate) trait BatchCommitter: Send + 'static {
    fn commit(
        &mut self,
        requests: &[AppendRequest],
    ) -> impl Future<Output = Result<BatchOutcome>> + Send;
}

/// A backend's connection, inside a write transaction that holds the
/// append lock (or takes it in `read_state`): what [`append_within`] needs.
pub(crate) trait LogConnection {
    /// The head, the streams' versions, the links to continue and the
    /// idempotency keys that `requests` touch.
    fn read_state(
        &mut self,
        requests: &[AppendRequest],
    ) -> impl Future<Output = Result<LogState>> + Send;

    /// Writes the decided rows.
    fn insert(&mut self, plan: &Plan<'_>) -> impl Future<Output = Result<()>> + Send;
}

/// Decides `requests` against the log as `connection` reads it and writes
/// them there: the one way events are appended, by the writer's batches
/// and by [`WriteTx`](crate::WriteTx) alike.
pub(crate) async fn append_within(
    connection: &mut impl LogConnection,
    requests: &[AppendRequest],
    chaining: Chaining,
) -> Result<BatchOutcome> {
    let metadata = metadata_json(requests)?;
    let state = connection.read_state(requests).await?;
    let plan = plan(requests, &metadata, state, chaining)?;
    connection.insert(&plan).await?;
    let head = plan.last_position();
    Ok((plan.outcomes, head))
}

struct Pending {
    request: AppendRequest,
    reply: oneshot::Sender<Result<Appended>>,
}

/// Handle to the writer task; cloning it shares the task.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("stream_id", &self.request.stream_id)
            .finish()
    }
}

impl Writer {
    /// Starts the writer task. It ends when every `Writer` clone is dropped.
    pub fn spawn(committer: impl BatchCommitter, head: watch::Sender<i64>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(committer, receiver, head));
        Self { queue }
    }

    pub async fn append(&self, request: AppendRequest) -> Result<Appended> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(
    mut committer: impl BatchCommitter,
    mut receiver: mpsc::Receiver<Pending>,
    head: watch::Sender<i64>,
) {
    let mut batch = Vec::new();
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        fill_batch(&mut batch, &mut receiver);
        let (requests, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|pending| (pending.request, pending.reply))
            .unzip();
        match committer.commit(&requests).await {
            Ok((outcomes, new_head)) => {
                if let Some(position) = new_head {
                    advance(&head, position);
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A caller that gave up waiting does not undo its append.
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                crate::warn_unless_outage!(error.outage(), %error, appends = requests.len(), "group commit failed");
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Takes what is already queued, without waiting, up to the batch limits.
fn fill_batch(batch: &mut Vec<Pending>, receiver: &mut mpsc::Receiver<Pending>) {
    let mut events: usize = batch.iter().map(|p| p.request.events.len()).sum();
    while batch.len() < MAX_BATCH_REQUESTS && events < MAX_BATCH_EVENTS {
        match receiver.try_recv() {
            Ok(pending) => {
                events += pending.request.events.len();
                batch.push(pending);
            }
            Err(_) => break,
        }
    }
}

/// Moves the head forward only: wake-ups from other nodes may arrive late.
pub(crate) fn advance(head: &watch::Sender<i64>, position: i64) {
    head.send_if_modified(|current| {
        let newer = position > *current;
        if newer {
            *current = position;
        }
        newer
    });
}
