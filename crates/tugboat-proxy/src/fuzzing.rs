//! The fuzz target of the admin API's request bodies (`fuzz/`), also replayed over the committed corpus by
//! `tests/fuzz_corpus.rs`. Not an API: hidden from the docs and used by the fuzz crate and the test only.

use std::path::PathBuf;

use crate::admin::{self, DrainBody, MaintenanceBody, PauseBody, ServiceBody};
use crate::config::Route;
use crate::state::{self, PersistedState};
use crate::stats::Stats;
use crate::table::Table;

/// An admin request: a first line `METHOD /path` and the body after it, decoded as the admin API decodes
/// it (`PUT /routes/…`, drain, pause, resume, maintenance). A route the API accepts persists and reads
/// back equal, picks one of its weighted targets, and matches requests for its own hosts and path.
pub fn admin_request(data: &[u8]) {
    let (line, body) = match data.iter().position(|b| *b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &data[data.len()..]),
    };
    let Ok(line) = std::str::from_utf8(line) else { return };
    let (method, path) = line.split_once(' ').unwrap_or((line, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("PUT", ["routes", service]) => {
            if let Ok(route) = admin::put_route(service, body) {
                check_accepted_route(&route);
            }
        }
        ("POST", ["routes", _, "drain"]) => {
            let _ = admin::decode::<DrainBody>(body).map(|d| std::time::Duration::from_millis(d.timeout_ms));
        }
        ("POST", ["pause"]) => {
            let _ = admin::decode::<PauseBody>(body).map(|p| admin::service_name(&p.service).is_ok());
        }
        ("POST", ["resume"]) => {
            let _ = admin::decode::<ServiceBody>(body);
        }
        ("POST", ["maintenance"]) => {
            let _ = admin::decode::<MaintenanceBody>(body).map(|m| admin::service_name(&m.service).is_ok());
        }
        _ => {}
    }
}

fn check_accepted_route(route: &Route) {
    let file = ScratchState::new();
    let saved = PersistedState { routes: vec![route.clone()], maintenance: Default::default() };
    if let Err(e) = state::save(&file.0, &saved) {
        panic!("an accepted route does not persist: {e}");
    }
    match state::load(&file.0) {
        Ok(Some(loaded)) => assert_eq!(loaded, saved, "the persisted route reads back differently"),
        Ok(None) => panic!("the persisted state is gone"),
        Err(e) => panic!("an accepted route does not read back: {e}"),
    }
    let stats = Stats::default();
    let table = Table::new(vec![route.clone()], &stats);
    let Some(entry) = table.get(&route.service) else { panic!("the route is not in its table") };
    let Some((picked, _)) = entry.pick() else { panic!("an accepted route picks no target") };
    assert!(route.targets.iter().any(|t| t.address == picked && t.weight > 0), "picked {picked}, no weighted target");
    let hosts = if route.hosts.is_empty() { vec!["any.example".to_string()] } else { route.hosts.clone() };
    for host in hosts {
        for asked in [host.clone(), host.to_ascii_uppercase()] {
            let found = table.lookup(&asked, &route.path_prefix).map(|e| e.route.service.clone());
            assert_eq!(
                found.as_ref(),
                Some(&route.service),
                "{asked:?} {:?} does not reach the route",
                route.path_prefix
            );
        }
    }
}

/// A state file of its own per thread (the corpus test runs inputs in parallel threads).
struct ScratchState(PathBuf);

impl ScratchState {
    fn new() -> ScratchState {
        let name = format!("tugboat-proxy-fuzz-{}-{:?}.json", std::process::id(), std::thread::current().id());
        ScratchState(std::env::temp_dir().join(name))
    }
}

impl Drop for ScratchState {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
