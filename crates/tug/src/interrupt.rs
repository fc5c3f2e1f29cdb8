//! Ctrl-C, SIGTERM and SIGHUP: tear down the scratch servers this process started, then exit 130.
//!
//! Scratch servers run in their own process groups, so a Ctrl-C at the terminal reaches only `tug`; this handler
//! kills them and removes their directories (each also has a watchdog that does the same should `tug` be killed
//! outright). Nothing else needs undoing on an interrupt: the state database is SQLite, transactional on its own.

/// Installs the handler; call once, early in `main`.
pub fn install() {
    // Fails only when a handler is already installed, in which case that one is in charge.
    let _ = ctrlc::set_handler(|| {
        tugboat::db::scratch::cleanup_all();
        std::process::exit(130);
    });
}
