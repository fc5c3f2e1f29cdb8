//! Cancellation: Ctrl-C and SIGTERM set the token; operations look at it at their safe points (between
//! sources, tables, stages) and stop there with [`Error::interrupted`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Error;

#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// A safe point: `Err(interrupted)` once cancelled.
    pub fn check(&self) -> Result<(), Error> {
        if self.is_cancelled() {
            Err(Error::interrupted())
        } else {
            Ok(())
        }
    }
}
