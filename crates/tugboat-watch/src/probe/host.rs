//! Host resources from /proc and statvfs — `[CPU]`, `[MEMORY]`, `[SWAP]`, `[DISK]` (percent used; disk is
//! the fullest of the listed mounts), `[LOAD]` (1-minute load per core) — and NVIDIA GPU memory through
//! `nvidia-smi`, where a host without a GPU is "not applicable", not a failure.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::Observed;

/// CPU use is a difference between two readings of /proc/stat: the previous run's, or one taken
/// 250 ms earlier on the first run.
#[derive(Default)]
pub struct CpuSampler {
    last: Mutex<Option<(u64, u64)>>,
}

fn cpu_reading() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0); // idle + iowait
    Some((fields.iter().sum(), idle))
}

impl CpuSampler {
    async fn percent(&self) -> Option<f64> {
        let previous = *self.last.lock().ok()?;
        let previous = match previous {
            Some(p) => p,
            None => {
                let first = cpu_reading()?;
                tokio::time::sleep(Duration::from_millis(250)).await;
                first
            }
        };
        let now = cpu_reading()?;
        *self.last.lock().ok()? = Some(now);
        let (total, idle) = (now.0.saturating_sub(previous.0), now.1.saturating_sub(previous.1));
        (total > 0).then(|| 100.0 * (total - idle) as f64 / total as f64)
    }
}

fn meminfo() -> Option<(f64, f64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        text.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    let memory = 100.0 * (1.0 - field("MemAvailable:")? / field("MemTotal:")?);
    let swap_total = field("SwapTotal:")?;
    let swap = if swap_total > 0.0 { 100.0 * (1.0 - field("SwapFree:")? / swap_total) } else { 0.0 };
    Some((memory, swap))
}

/// Percent of a filesystem in use, as `df` computes it (blocks reserved for root count as unavailable).
fn disk_percent(mount: &str) -> Result<f64, String> {
    let s = rustix::fs::statvfs(mount).map_err(|e| format!("{mount}: {e}"))?;
    let used = s.f_blocks.saturating_sub(s.f_bfree);
    let usable = used + s.f_bavail;
    Ok(if usable == 0 { 0.0 } else { 100.0 * used as f64 / usable as f64 })
}

fn round(x: f64) -> Value {
    Value::from((x * 10.0).round() / 10.0)
}

pub(super) async fn observe(cpu: &CpuSampler, mounts: &[String]) -> Observed {
    let mut observed = Observed::default();
    let values = &mut observed.values;
    if let Some(p) = cpu.percent().await {
        values.insert("CPU".into(), round(p));
    }
    if let Some((memory, swap)) = meminfo() {
        values.insert("MEMORY".into(), round(memory));
        values.insert("SWAP".into(), round(swap));
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    if let Some(load) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|f| f.parse::<f64>().ok()))
    {
        values.insert("LOAD".into(), Value::from((load / cores * 100.0).round() / 100.0));
    }
    let mut fullest: Option<f64> = None;
    for mount in mounts {
        match disk_percent(mount) {
            Ok(p) => {
                observed.diagnostics.push(format!("disk {mount}: {p:.1}% used"));
                fullest = Some(fullest.map_or(p, |f| f.max(p)));
            }
            Err(e) => observed.error = Some(e),
        }
    }
    if let Some(f) = fullest {
        observed.values.insert("DISK".into(), round(f));
    }
    observed
}

/// `nvidia-smi`'s reading; the busiest GPU when there are several.
pub(super) async fn gpu() -> Observed {
    let mut observed = Observed::default();
    let output = tokio::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.used,memory.total,utilization.gpu,temperature.gpu",
            "--format=csv,noheader,nounits",
        ])
        .kill_on_drop(true)
        .output()
        .await;
    let output = match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            observed.not_applicable = true;
            observed.diagnostics.push("no NVIDIA GPU here (nvidia-smi not found)".into());
            return observed;
        }
        Err(e) => {
            observed.error = Some(format!("nvidia-smi: {e}"));
            return observed;
        }
        Ok(o) => o,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let text = format!("{} {}", stderr.trim(), stdout.trim());
        // The driver's own words when there is no device: not applicable, like a missing tool.
        if text.contains("No devices were found") || text.contains("couldn't communicate with the NVIDIA driver") {
            observed.not_applicable = true;
            observed.diagnostics.push(format!("no usable NVIDIA GPU: {}", text.trim()));
        } else {
            observed.error = Some(format!("nvidia-smi failed: {}", text.trim()));
        }
        return observed;
    }
    let mut busiest: Option<(f64, Vec<f64>)> = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let nums: Vec<f64> = fields.iter().skip(1).map(|f| f.parse().unwrap_or(f64::NAN)).collect();
        if nums.len() < 4 || nums[1] <= 0.0 {
            continue;
        }
        let percent = 100.0 * nums[0] / nums[1];
        observed.diagnostics.push(format!("{}: {:.0} of {:.0} MiB used", fields[0], nums[0], nums[1]));
        if busiest.as_ref().is_none_or(|(p, _)| percent > *p) {
            busiest = Some((percent, nums));
        }
    }
    match busiest {
        Some((percent, n)) => {
            let v = &mut observed.values;
            v.insert("GPU_MEMORY".into(), round(percent));
            v.insert("GPU_MEMORY_USED".into(), Value::from(n[0]));
            v.insert("GPU_MEMORY_FREE".into(), Value::from(n[1] - n[0]));
            if n[2].is_finite() {
                v.insert("GPU_UTILIZATION".into(), Value::from(n[2]));
            }
            if n[3].is_finite() {
                v.insert("GPU_TEMPERATURE".into(), Value::from(n[3]));
            }
        }
        None => observed.error = Some("nvidia-smi printed no GPU".into()),
    }
    observed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn this_host_reports_its_resources() {
        let o = observe(&CpuSampler::default(), &["/".to_string()]).await;
        for key in ["CPU", "MEMORY", "DISK", "LOAD"] {
            let v = o.values.get(key).and_then(Value::as_f64).unwrap_or_else(|| panic!("{key} missing: {o:?}"));
            assert!((0.0..=100.0).contains(&v) || key == "LOAD", "{key} = {v}");
        }
        assert!(o.error.is_none());
        let o = observe(&CpuSampler::default(), &["/no/such/mount".to_string()]).await;
        assert!(o.error.unwrap().contains("/no/such/mount"));
    }
}
