//! `tug watch`: the monitoring daemon.

use crate::cli::{Global, WatchArgs};
use crate::exit::Exit;

pub fn run(_g: &Global, _args: &WatchArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("tug watch is being built")
}
