//! A connection's rare wake-ups (directory changes, shutdown), polled only
//! when they fire.
//!
//! `tokio::select!` polls every branch whenever its task wakes, and under
//! fan-out a connection's task wakes for every change. A pending receiver
//! of a broadcast channel or a watch takes a lock that every connection of
//! the node shares each time it is polled, and again when its future is
//! dropped at the end of the loop's turn: shared locks per change and
//! connection, for events that come once in hours. A [`Dormant`] stream
//! keeps its future across the loop's turns and polls it only after its
//! own waker fired.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use bomizzel_identity::DirectoryChange;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use futures::task::AtomicWaker;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

/// A connection's rare wake-ups, for its loop's `select!`.
#[derive(Debug)]
pub(crate) struct Rare {
    pub directory: Dormant<Result<DirectoryChange, RecvError>>,
    pub shutdown: Dormant<()>,
}

/// A stream polled only after it asked to be woken.
pub(crate) struct Dormant<T> {
    stream: BoxStream<'static, T>,
    woken: Arc<Woken>,
}

impl<T> std::fmt::Debug for Dormant<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dormant").finish_non_exhaustive()
    }
}

/// Set by the stream's waker; the task's waker to pass the wake-up on.
struct Woken {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<T> Dormant<T> {
    pub fn new(stream: impl Stream<Item = T> + Send + 'static) -> Self {
        let woken = Woken {
            // Polled the first time, to register its waker.
            fired: AtomicBool::new(true),
            task: AtomicWaker::new(),
        };
        Self {
            stream: stream.boxed(),
            woken: Arc::new(woken),
        }
    }

    /// The stream's next item.
    pub fn next(&mut self) -> impl Future<Output = Option<T>> + '_ {
        std::future::poll_fn(move |cx| self.poll_next(cx))
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.woken.task.register(cx.waker());
        if !self.woken.fired.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(Arc::clone(&self.woken));
        let next = self
            .stream
            .poll_next_unpin(&mut Context::from_waker(&waker));
        if next.is_ready() {
            // More may be ready without a wake-up.
            self.woken.fired.store(true, Ordering::Release);
        }
        next
    }
}

/// Directory changes, or `Lagged` when some were missed; never ends.
pub(crate) fn directory_changes(
    receiver: broadcast::Receiver<DirectoryChange>,
) -> Dormant<Result<DirectoryChange, RecvError>> {
    Dormant::new(stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            // The sender lives as long as the server: nothing more will come.
            Err(RecvError::Closed) => std::future::pending().await,
            next => Some((next, receiver)),
        }
    }))
}

/// One item once `shutdown` turns true.
pub(crate) fn shutdown(mut shutdown: watch::Receiver<bool>) -> Dormant<()> {
    Dormant::new(stream::once(async move {
        crate::stopped(&mut shutdown).await;
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::FutureExt;

    use super::*;

    #[test]
    fn a_dormant_stream_is_polled_only_after_its_waker_fired() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let counted = Arc::clone(&polls);
        let mut dormant = Dormant::new(stream::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::SeqCst);
            receiver.poll_recv(cx)
        }));
        let polled = || polls.load(Ordering::SeqCst);
        assert_eq!(dormant.next().now_or_never(), None);
        assert_eq!(polled(), 1, "the first poll registers its waker");
        assert_eq!(dormant.next().now_or_never(), None);
        assert_eq!(polled(), 1, "not polled again before it is woken");
        sender.send(7).unwrap();
        sender.send(8).unwrap();
        assert_eq!(dormant.next().now_or_never(), Some(Some(7)));
        assert_eq!(
            dormant.next().now_or_never(),
            Some(Some(8)),
            "after an item, polled again: more may be ready"
        );
        assert_eq!(dormant.next().now_or_never(), None);
        assert_eq!(dormant.next().now_or_never(), None);
        assert_eq!(polled(), 4);
    }
}
