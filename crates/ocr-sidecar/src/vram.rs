//! VRAM readings: NVML (loaded at run time, so the build needs no CUDA), then `nvidia-smi`, then
//! "no GPU", which is a valid state (Ollama on CPU) rather than an error.

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::VramSourceChoice;

/// One GPU's memory, in MiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuMemory {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub total_mib: u64,
    pub used_mib: u64,
    pub free_mib: u64,
}

/// What a reading found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VramState {
    /// GPUs and their memory, read through `source` (`nvml` or `nvidia-smi`).
    Gpus { source: &'static str, gpus: Vec<GpuMemory> },
    /// No GPU on this host, or none visible: models run on CPU, so there is no VRAM to protect.
    NoGpu { reason: String },
    /// A GPU seems present but could not be read: policies treat this as pressure.
    Unknown { error: String },
}

impl VramState {
    /// The GPU to judge by: `index` when given, else the one with the most free memory.
    pub fn gpu(&self, index: Option<u32>) -> Option<&GpuMemory> {
        match self {
            VramState::Gpus { gpus, .. } => match index {
                Some(i) => gpus.iter().find(|g| g.index == i),
                None => gpus.iter().max_by_key(|g| g.free_mib),
            },
            _ => None,
        }
    }
}

/// Anything that can read VRAM. Reads may block (NVML, a subprocess): call from a blocking thread.
pub trait VramMonitor: Send + Sync {
    fn read(&self) -> VramState;
}

const MIB: u64 = 1024 * 1024;

/// The real monitor, in the order the configuration allows.
pub struct SystemMonitor {
    choice: VramSourceChoice,
    nvml: Option<nvml_wrapper::Nvml>,
    nvml_error: Option<String>,
}

impl SystemMonitor {
    pub fn new(choice: VramSourceChoice) -> Self {
        let (nvml, nvml_error) = match choice {
            VramSourceChoice::Auto | VramSourceChoice::Nvml => match init_nvml() {
                Ok(n) => (Some(n), None),
                Err(e) => (None, Some(e)),
            },
            _ => (None, None),
        };
        SystemMonitor { choice, nvml, nvml_error }
    }

    fn read_nvml(nvml: &nvml_wrapper::Nvml) -> Result<Vec<GpuMemory>, String> {
        let count = nvml.device_count().map_err(|e| e.to_string())?;
        let mut gpus = Vec::new();
        for index in 0..count {
            let device = nvml.device_by_index(index).map_err(|e| e.to_string())?;
            let mem = device.memory_info().map_err(|e| e.to_string())?;
            gpus.push(GpuMemory {
                index,
                name: device.name().ok(),
                total_mib: mem.total / MIB,
                used_mib: mem.used / MIB,
                free_mib: mem.free / MIB,
            });
        }
        Ok(gpus)
    }
}

fn init_nvml() -> Result<nvml_wrapper::Nvml, String> {
    match nvml_wrapper::Nvml::init() {
        Ok(n) => Ok(n),
        // The default is the versioned libnvidia-ml.so.1; some hosts have only the development name.
        Err(first) => nvml_wrapper::Nvml::builder()
            .lib_path(std::ffi::OsStr::new("libnvidia-ml.so"))
            .init()
            .map_err(|second| format!("{first}; then libnvidia-ml.so: {second}")),
    }
}

/// Parses `nvidia-smi --query-gpu=memory.total,memory.used,memory.free --format=csv,noheader,nounits`.
pub fn parse_nvidia_smi(out: &str) -> Result<Vec<GpuMemory>, String> {
    let mut gpus = Vec::new();
    for (index, line) in out.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [total, used, free] = fields[..] else {
            return Err(format!("unexpected nvidia-smi line {line:?}"));
        };
        let num = |s: &str| s.parse::<u64>().map_err(|_| format!("unexpected nvidia-smi value {s:?} in {line:?}"));
        gpus.push(GpuMemory {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            name: None,
            total_mib: num(total)?,
            used_mib: num(used)?,
            free_mib: num(free)?,
        });
    }
    Ok(gpus)
}

fn read_nvidia_smi() -> Result<VramState, String> {
    let out = match Command::new("nvidia-smi")
        .args(["--query-gpu=memory.total,memory.used,memory.free", "--format=csv,noheader,nounits"])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(VramState::NoGpu { reason: "no NVML library and no nvidia-smi".into() })
        }
        Err(e) => return Err(format!("nvidia-smi: {e}")),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // nvidia-smi exists but finds no device or no driver.
        if stdout.contains("No devices were found") || stderr.contains("couldn't communicate with the NVIDIA driver") {
            return Ok(VramState::NoGpu { reason: format!("nvidia-smi: {}", stdout.trim()) });
        }
        return Err(format!("nvidia-smi exited with {}: {}", out.status, stderr.trim()));
    }
    let gpus = parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout))?;
    if gpus.is_empty() {
        return Ok(VramState::NoGpu { reason: "nvidia-smi lists no GPU".into() });
    }
    Ok(VramState::Gpus { source: "nvidia-smi", gpus })
}

impl VramMonitor for SystemMonitor {
    fn read(&self) -> VramState {
        match self.choice {
            VramSourceChoice::None => VramState::NoGpu { reason: "OCR_SIDECAR_VRAM_SOURCE=none".into() },
            VramSourceChoice::Nvml => match &self.nvml {
                Some(nvml) => match Self::read_nvml(nvml) {
                    Ok(gpus) if gpus.is_empty() => VramState::NoGpu { reason: "NVML lists no GPU".into() },
                    Ok(gpus) => VramState::Gpus { source: "nvml", gpus },
                    Err(error) => VramState::Unknown { error: format!("NVML: {error}") },
                },
                None => VramState::Unknown {
                    error: format!("NVML: {}", self.nvml_error.as_deref().unwrap_or("not initialised")),
                },
            },
            VramSourceChoice::NvidiaSmi => read_nvidia_smi().unwrap_or_else(|error| VramState::Unknown { error }),
            VramSourceChoice::Auto => {
                if let Some(nvml) = &self.nvml {
                    match Self::read_nvml(nvml) {
                        Ok(gpus) if !gpus.is_empty() => return VramState::Gpus { source: "nvml", gpus },
                        Ok(_) => {}
                        Err(error) => tracing::debug!(%error, "NVML read failed; trying nvidia-smi"),
                    }
                }
                read_nvidia_smi().unwrap_or_else(|error| VramState::Unknown { error })
            }
        }
    }
}

/// Caches another monitor's reading for `ttl`, so a burst of requests reads once.
pub struct CachedMonitor<M> {
    inner: M,
    ttl: Duration,
    last: Mutex<Option<(Instant, VramState)>>,
}

impl<M: VramMonitor> CachedMonitor<M> {
    pub fn new(inner: M, ttl: Duration) -> Self {
        CachedMonitor { inner, ttl, last: Mutex::new(None) }
    }
}

impl<M: VramMonitor> VramMonitor for CachedMonitor<M> {
    fn read(&self) -> VramState {
        if let Ok(last) = self.last.lock() {
            if let Some((at, state)) = last.as_ref() {
                if at.elapsed() < self.ttl {
                    return state.clone();
                }
            }
        }
        let state = self.inner.read();
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), state.clone()));
        }
        state
    }
}

/// A monitor whose reading the caller sets: for tests and the benchmark.
pub struct FixedMonitor {
    state: Mutex<VramState>,
}

impl FixedMonitor {
    pub fn new(state: VramState) -> Self {
        FixedMonitor { state: Mutex::new(state) }
    }

    pub fn set(&self, state: VramState) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }

    /// One GPU with `total_mib`, of which `free_mib` are free.
    pub fn gpu(total_mib: u64, free_mib: u64) -> VramState {
        VramState::Gpus {
            source: "fixed",
            gpus: vec![GpuMemory {
                index: 0,
                name: None,
                total_mib,
                used_mib: total_mib.saturating_sub(free_mib),
                free_mib,
            }],
        }
    }
}

impl VramMonitor for FixedMonitor {
    fn read(&self) -> VramState {
        self.state.lock().map(|s| s.clone()).unwrap_or_else(|_| VramState::Unknown { error: "poisoned".into() })
    }
}

impl<T: VramMonitor + ?Sized> VramMonitor for std::sync::Arc<T> {
    fn read(&self) -> VramState {
        (**self).read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_csv() {
        let gpus = parse_nvidia_smi("16311, 10240, 5800\n8192, 0, 8000\n").unwrap();
        assert_eq!(gpus.len(), 2);
        assert_eq!((gpus[0].index, gpus[0].total_mib, gpus[0].used_mib, gpus[0].free_mib), (0, 16311, 10240, 5800));
        assert_eq!(gpus[1].index, 1);
        assert!(parse_nvidia_smi("[N/A], 1, 2\n").is_err());
        assert!(parse_nvidia_smi("1, 2\n").is_err());
        assert_eq!(parse_nvidia_smi("").unwrap(), vec![]);
    }

    #[test]
    fn picks_the_gpu_with_most_free_memory_unless_told() {
        let state = VramState::Gpus {
            source: "fixed",
            gpus: vec![
                GpuMemory { index: 0, name: None, total_mib: 16_000, used_mib: 15_000, free_mib: 1_000 },
                GpuMemory { index: 1, name: None, total_mib: 16_000, used_mib: 2_000, free_mib: 14_000 },
            ],
        };
        assert_eq!(state.gpu(None).unwrap().index, 1);
        assert_eq!(state.gpu(Some(0)).unwrap().index, 0);
        assert!(state.gpu(Some(7)).is_none());
        assert!(VramState::NoGpu { reason: String::new() }.gpu(None).is_none());
    }

    #[test]
    fn none_source_reports_no_gpu() {
        let m = SystemMonitor::new(VramSourceChoice::None);
        assert!(matches!(m.read(), VramState::NoGpu { .. }));
    }

    #[test]
    fn cache_holds_a_reading_for_its_ttl() {
        let fixed = std::sync::Arc::new(FixedMonitor::new(FixedMonitor::gpu(16_000, 8_000)));
        let cached = CachedMonitor::new(fixed.clone(), Duration::from_secs(60));
        assert_eq!(cached.read(), FixedMonitor::gpu(16_000, 8_000));
        fixed.set(FixedMonitor::gpu(16_000, 100));
        assert_eq!(cached.read(), FixedMonitor::gpu(16_000, 8_000));
        let uncached = CachedMonitor::new(fixed.clone(), Duration::ZERO);
        assert_eq!(uncached.read(), FixedMonitor::gpu(16_000, 100));
    }
}
