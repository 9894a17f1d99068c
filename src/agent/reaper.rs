//! Zombie reaping for PID 1.
//!
//! As init of its pid namespace the agent inherits every orphan, so it must `waitpid(-1)`; that
//! would steal exit statuses from any other waiter, so all waiting goes through here and exits
//! of the agent's own commands are handed to whoever registered for them.

use std::cell::RefCell;
use std::collections::HashMap;

use nix::sys::wait::WaitStatus;
use tokio::sync::oneshot;

use crate::runtime::sys;

/// Routes child exit statuses to the tasks waiting for them.
#[derive(Default)]
pub(super) struct Reaper {
    waiters: RefCell<HashMap<u32, oneshot::Sender<WaitStatus>>>,
}

impl Reaper {
    /// Registers interest in `pid`'s exit. Must be called right after spawning, before the task
    /// yields, so that the reaper cannot collect the exit first (single-threaded: it cannot run
    /// in between).
    pub(super) fn register(&self, pid: u32) -> oneshot::Receiver<WaitStatus> {
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().insert(pid, tx);
        rx
    }

    /// Collects every exited child; statuses of registered ones are delivered, orphans are
    /// simply released.
    pub(super) fn reap_all(&self) {
        while let Some((pid, status)) = sys::reap_any() {
            if let Some(tx) = self.waiters.borrow_mut().remove(&pid) {
                // The waiter may be gone (its connection dropped); nothing to deliver then.
                let _ = tx.send(status);
            }
        }
    }
}
