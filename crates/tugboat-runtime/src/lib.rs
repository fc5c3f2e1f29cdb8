//! tug's stack runtime: a compose project's services become containers through the Docker Engine API,
//! labelled as Docker Compose labels them so `docker compose ps/logs` still see them.
//!
//! - [`spec`]: the stack -> what will be created (every compose key honoured or refused at file:line)
//! - [`engine`]: the small [`engine::Engine`] trait the runtime acts through, and [`engine::Docker`]
//! - [`up`], [`down`], [`status`]: the operations `tug up` and `tug down`, and the drift report
//! - [`doctor`]: `tug doctor`'s engine checks and the stack's binds, ports, memory and GPUs
//! - [`logs`]: `tug logs`: containers' log lines joined, filtered, redacted and merged by time
//! - [`build`]: `build:` contexts (`.dockerignore`, tar) for the Engine API's builder

pub mod build;
pub mod deploy;
pub mod desired;
pub mod doctor;
pub mod down;
pub mod engine;
pub mod labels;
pub mod logs;
pub mod observe;
pub mod spec;
pub mod status;
pub mod up;
pub mod wait;
