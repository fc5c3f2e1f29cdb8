//! The NVIDIA driver, through `nvidia-smi`, for stacks whose services reserve a GPU. The container side
//! (the engine's `nvidia` runtime, or the toolkit's hook that `--gpus` uses) is the runtime's check.

use std::process::Command;

use super::{Check, Group};

/// `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader` -> (name, driver) per GPU.
pub fn parse_query(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| {
            let (name, driver) = l.rsplit_once(',')?;
            Some((name.trim().to_string(), driver.trim().to_string()))
        })
        .filter(|(n, d)| !n.is_empty() && !d.is_empty())
        .collect()
}

/// `gpu.driver` for the services that reserve a GPU.
pub fn check_driver(services: &[String]) -> Check {
    let id = "gpu.driver";
    let who = format!("{} reserve a GPU", services.join(", "));
    let install = "install the NVIDIA driver (`apt-get install nvidia-driver`, then reboot) and check `nvidia-smi`";
    let out =
        match Command::new("nvidia-smi").args(["--query-gpu=name,driver_version", "--format=csv,noheader"]).output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Check::fail(Group::Gpu, id, format!("{who}; nvidia-smi not found: no NVIDIA driver"), install)
            }
            Err(e) => return Check::fail(Group::Gpu, id, format!("{who}; nvidia-smi cannot run: {e}"), install),
            Ok(o) => o,
        };
    let gpus = parse_query(&String::from_utf8_lossy(&out.stdout));
    if !out.status.success() || gpus.is_empty() {
        let said =
            format!("{} {}", String::from_utf8_lossy(&out.stderr).trim(), String::from_utf8_lossy(&out.stdout).trim());
        return Check::fail(Group::Gpu, id, format!("{who}; nvidia-smi finds no GPU: {}", said.trim()), install);
    }
    let list: Vec<String> = gpus.iter().map(|(n, d)| format!("{n} (driver {d})")).collect();
    Check::pass(Group::Gpu, id, format!("{who}; {}", list.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_output_gives_each_gpu_and_driver() {
        let out = "NVIDIA GeForce RTX 5060 Ti, 575.57.08\nNVIDIA H200, 570.133.20\n";
        assert_eq!(
            parse_query(out),
            vec![
                ("NVIDIA GeForce RTX 5060 Ti".to_string(), "575.57.08".to_string()),
                ("NVIDIA H200".to_string(), "570.133.20".to_string())
            ]
        );
        assert!(parse_query("No devices were found\n").is_empty());
    }
}
