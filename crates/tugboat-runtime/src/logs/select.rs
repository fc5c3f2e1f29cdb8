//! Which containers `tug logs` reads: the project's containers (stopped ones and every blue/green
//! generation included) of the services asked for, each named as Compose prefixes it (`web-2`).

use crate::engine::ContainerSummary;
use crate::labels;
use crate::observe::number;

/// A container whose log is read.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub id: String,
    /// The container's name (`shop-web-2`).
    pub container: String,
    pub service: String,
    /// `service-N`, the prefix of its lines.
    pub label: String,
    /// Lines up to here are skipped (already read: from the collected history, say).
    pub after: super::store::Checkpoint,
}

#[derive(Debug, thiserror::Error)]
#[error("no service `{name}` in this stack; its services: {}", known.join(", "))]
pub struct UnknownService {
    pub name: String,
    pub known: Vec<String>,
}

/// The containers of `services` (all when empty), in the project's order. A service the stack defines
/// but that has no container yet selects nothing; a name neither defined nor running is an error.
pub fn select(
    containers: &[ContainerSummary],
    services: &[String],
    defined: &[String],
) -> Result<Vec<Source>, UnknownService> {
    let service_of = |c: &ContainerSummary| c.label(labels::SERVICE).unwrap_or_default().to_string();
    let mut known: Vec<String> = defined.iter().cloned().chain(containers.iter().map(service_of)).collect();
    known.sort();
    known.dedup();
    if let Some(name) = services.iter().find(|s| !known.contains(s)) {
        return Err(UnknownService { name: name.clone(), known });
    }
    Ok(containers
        .iter()
        .filter(|c| services.is_empty() || services.contains(&service_of(c)))
        .map(|c| Source {
            id: c.id.clone(),
            container: c.name.clone(),
            service: service_of(c),
            label: format!("{}-{}", service_of(c), number(c)),
            after: Default::default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, n: u32, state: &str) -> ContainerSummary {
        ContainerSummary {
            id: format!("id-{service}-{n}"),
            name: format!("shop-{service}-{n}"),
            labels: [(labels::SERVICE.to_string(), service.to_string()), (labels::NUMBER.into(), n.to_string())].into(),
            state: state.into(),
        }
    }

    #[test]
    fn services_select_their_containers_blue_green_and_stopped_ones_included() {
        let all = [container("db", 1, "running"), container("web", 1, "exited"), container("web", 2, "running")];
        let defined = ["db".to_string(), "web".into(), "worker".into()];
        let labels = |s: Vec<Source>| s.into_iter().map(|s| s.label).collect::<Vec<_>>();
        assert_eq!(labels(select(&all, &[], &defined).unwrap()), ["db-1", "web-1", "web-2"]);
        assert_eq!(labels(select(&all, &["web".into()], &defined).unwrap()), ["web-1", "web-2"]);
        assert!(select(&all, &["worker".into()], &defined).unwrap().is_empty());
        let err = select(&all, &["wbe".into()], &defined).unwrap_err();
        assert_eq!(err.to_string(), "no service `wbe` in this stack; its services: db, web, worker");
    }
}
