//! Probes and the watch daemon.
