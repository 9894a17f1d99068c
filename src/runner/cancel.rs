//! Cancellation of a run, in two levels as GitHub (and a terminal user) expect: the first
//! request lets steps stop gracefully and `always()` steps run; the second kills at once.

use tokio::sync::watch;

/// How far a cancellation has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelLevel {
    /// Running normally.
    None,
    /// Stop gracefully: SIGINT, then SIGTERM, then SIGKILL to running steps; only steps and
    /// jobs that ask for it (`always()`, `cancelled()`) still run.
    Graceful,
    /// Stop now: kill every step and destroy every sandbox.
    Immediate,
}

/// Shared by everything in a run; cheap to clone.
#[derive(Debug, Clone)]
pub struct Cancel {
    sender: std::sync::Arc<watch::Sender<CancelLevel>>,
    receiver: watch::Receiver<CancelLevel>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Cancel {
        let (sender, receiver) = watch::channel(CancelLevel::None);
        Cancel {
            sender: std::sync::Arc::new(sender),
            receiver,
        }
    }

    /// Raises the level by one step (a second request escalates); returns the new level.
    pub fn escalate(&self) -> CancelLevel {
        let mut level = CancelLevel::None;
        self.sender.send_modify(|current| {
            *current = match *current {
                CancelLevel::None => CancelLevel::Graceful,
                _ => CancelLevel::Immediate,
            };
            level = *current;
        });
        level
    }

    /// Raises the level to at least `level`.
    pub fn raise(&self, level: CancelLevel) {
        self.sender.send_if_modified(|current| {
            if *current < level {
                *current = level;
                true
            } else {
                false
            }
        });
    }

    /// The current level.
    pub fn level(&self) -> CancelLevel {
        *self.receiver.borrow()
    }

    /// A token of its own that starts where this one is and follows it, for a part of the run
    /// (a job, a matrix) that can also be cancelled alone.
    pub fn child(&self) -> Cancel {
        let child = Cancel::new();
        child.raise(self.level());
        let mut parent = self.receiver.clone();
        let weak = std::sync::Arc::downgrade(&child.sender);
        tokio::spawn(async move {
            while parent.changed().await.is_ok() {
                let level = *parent.borrow();
                match weak.upgrade() {
                    Some(sender) => {
                        sender.send_if_modified(|current| {
                            if *current < level {
                                *current = level;
                                true
                            } else {
                                false
                            }
                        });
                    }
                    None => return,
                }
            }
        });
        child
    }

    /// Waits until the level is at least `level` (returns at once if it is).
    pub async fn reached(&self, level: CancelLevel) {
        let mut receiver = self.receiver.clone();
        // An error means every sender is gone: the level can no longer change.
        let _ = receiver.wait_for(|current| *current >= level).await;
        if *receiver.borrow() < level {
            std::future::pending::<()>().await;
        }
    }
}
