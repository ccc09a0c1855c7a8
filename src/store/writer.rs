//! Group commit: ratings and removals from every connection go through one
//! task, which writes whatever has queued up in one transaction and then
//! answers each caller. Under load a commit (and its fsync) carries many
//! ratings; alone, a rating is committed at once. A caller hears back only
//! after its rating is committed.

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
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let writes: Vec<Write> = batch.iter().map(|p| p.write.clone()).collect();
                match store.write(&writes).await {
                    Ok(done) => {
                        for (p, d) in batch.drain(..).zip(done) {
                            let _ = p.reply.send(Ok(d));
                        }
                    }
                    Err(e) => {
                        tracing::warn!("{} writes not committed: {e}", batch.len());
                        for p in batch.drain(..) {
                            let _ = p.reply.send(Err(e.clone()));
                        }
                    }
                }
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
