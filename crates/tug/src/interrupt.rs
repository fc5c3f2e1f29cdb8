//! Ctrl-C, SIGTERM and SIGHUP during an acting command.
//!
//! The first signal sets the process's cancellation token, so the operation stops at its next safe point
//! and records `interrupted` in the audit log; the scratch servers this process started are torn down at
//! once (they run in their own process groups, so a Ctrl-C at the terminal reaches only `tug`; each also
//! has a watchdog should `tug` be killed outright). An operation that does not reach a safe point within
//! the grace period is cut short: its audit event is written as `interrupted` here, and `tug` exits 130.

use std::sync::OnceLock;
use std::time::Duration;

use tugboat::ops::CancelToken;

/// How long an operation gets to reach a safe point after a signal.
const GRACE: Duration = Duration::from_secs(10);

/// The process's cancellation token, shared by every operation it runs.
pub fn token() -> CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN.get_or_init(CancelToken::new).clone()
}

/// Installs the handler; call once, early in `main`.
pub fn install() {
    // Fails only when a handler is already installed, in which case that one is in charge.
    let _ = ctrlc::set_handler(|| {
        let token = token();
        if token.is_cancelled() {
            // A second signal: stop now.
            tugboat::store::interrupt_open_operations();
            std::process::exit(130);
        }
        token.cancel();
        tugboat::db::scratch::cleanup_all();
        std::thread::spawn(|| {
            std::thread::sleep(GRACE);
            tugboat::store::interrupt_open_operations();
            std::process::exit(130);
        });
    });
}
