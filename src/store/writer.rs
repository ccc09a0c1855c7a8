//! Group commit: ratings and removals from every connection go through one
//! task, which writes whatever has queued up in one transaction and then
//! answers each caller. Under load a commit (and its fsync) carries many
//! ratings; alone, a rating is committed at once. A caller hears back only
//! after its rating is committed. It never writes SQL or checks a rating:
//! the batch goes to [`Store::write`] as it came.

use tokio::sync::{mpsc, oneshot};

use super::{Done, Store, StoreError, Write};

/// Writes in one transaction at most.
const MAX_BATCH: usize = 512;

struct Pending {
    write: Write,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The handle connections write through.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Pending>,
}

impl Writer {
    /// Start the writing task on the current runtime. It ends when every
    /// handle is dropped.
    pub fn spawn(store: Store) -> Writer {
        let (queue, mut rx) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut writes = Vec::with_capacity(MAX_BATCH);
            let mut replies = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(p) = next.take() {
                    writes.push(p.write);
                    replies.push(p.reply);
                    if writes.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                match store.write(&writes).await {
                    Ok(done) => {
                        for (reply, d) in replies.drain(..).zip(done) {
                            let _ = reply.send(Ok(d));
                        }
                    }
                    Err(e) => {
                        tracing::warn!("{} writes not committed: {e}", writes.len());
                        for reply in replies.drain(..) {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
                writes.clear();
            }
        });
        Writer { queue }
    }

    /// Write and wait for the commit.
    pub async fn submit(&self, write: Write) -> Result<Done, StoreError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Pending { write, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }
}
