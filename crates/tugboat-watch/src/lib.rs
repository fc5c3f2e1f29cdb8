//! Probes, smoke suites and the watch daemon.
//!
//! [`probe`] turns the checks of `tugboat.yml` into runnable probes with Gatus-style conditions;
//! [`smoke`] runs a suite once; [`watch`] runs them on schedules and raises alerts.

#[doc(hidden)]
pub mod fuzzing;
pub mod probe;
pub mod smoke;
pub mod watch;

/// The one tokio runtime a command needs: probes are I/O-bound, so two workers serve thousands.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}
