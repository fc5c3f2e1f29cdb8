//! Adaptive OCR residency (seed 001 US2, seed 000 T034b / ADR-040 D3) and CPU fallback for retrieval
//! models (ADR-040 D4): pure functions of a profile and a VRAM situation, so they are tested over a
//! table of situations without a GPU.
//!
//! The rule: the OCR model stays resident while the free VRAM, once the OCR model is loaded, still
//! leaves room for the LLM's configured need plus a margin. Otherwise the OCR model is unloaded after
//! the request (`keep_alive: 0`), so the LLM — which has priority — finds its memory. Models already
//! loaded (Ollama's `/api/ps`) need no further room; when that is unknown the policy assumes they
//! are not loaded, which errs towards unloading.

use serde::Serialize;

use crate::vram::VramState;

/// The thresholds, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidencyProfile {
    /// `false` keeps the OCR model resident whatever the VRAM (OCR_ADAPTIVE_RESIDENCY=false).
    pub adaptive: bool,
    /// The LLM's Ollama name (to see in `/api/ps` whether it is loaded).
    pub llm_model: Option<String>,
    /// VRAM the LLM needs when it loads, in MiB.
    pub llm_need_mib: u64,
    /// VRAM the OCR model takes, in MiB.
    pub ocr_need_mib: u64,
    /// VRAM the embedding model takes on the GPU, in MiB.
    pub embed_need_mib: u64,
    /// VRAM the reranker takes on the GPU, in MiB.
    pub rerank_need_mib: u64,
    /// Kept free on top of every need, in MiB.
    pub margin_mib: u64,
    /// `keep_alive` while resident (e.g. `10m`).
    pub resident_keep_alive: String,
    /// `keep_alive` between the pages of a request that will unload afterwards (e.g. `30s`).
    pub pressure_hold: String,
    /// The GPU to judge by; `None`: the one with the most free memory.
    pub gpu_index: Option<u32>,
}

/// Which models Ollama has loaded now; `None` when not known (`/api/ps` failed or no name configured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadedModels {
    pub llm: Option<bool>,
    pub ocr: Option<bool>,
}

/// Everything a decision looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Situation {
    pub vram: VramState,
    pub loaded: LoadedModels,
}

/// Keep the OCR model or let it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Residency {
    KeepResident,
    UnloadAfterRequest,
}

/// The numbers a decision was made from, for the response metadata and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionInputs {
    pub vram: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_mib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_mib: Option<u64>,
    pub llm_loaded: Option<bool>,
    pub model_loaded: Option<bool>,
    pub llm_need_mib: u64,
    pub model_need_mib: u64,
    pub margin_mib: u64,
    /// Free MiB left after this model and the LLM's need and the margin; negative means pressure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headroom_mib: Option<i64>,
}

/// The OCR residency decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResidencyDecision {
    pub decision: Residency,
    /// What every page's generate call carries.
    pub keep_alive: String,
    /// `Some("0")`: unload with `keep_alive: 0` once the request (and any other in flight) is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_request_keep_alive: Option<String>,
    pub reason: String,
    pub inputs: DecisionInputs,
}

/// Where a retrieval model (embeddings, reranker) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Gpu,
    Cpu,
}

/// The retrieval placement decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub device: Device,
    /// `Some(0)`: force the model onto the CPU (Ollama's `num_gpu: 0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_gpu: Option<u32>,
    pub reason: String,
    pub inputs: DecisionInputs,
}

struct Room {
    inputs: DecisionInputs,
    /// `None` when there is no GPU reading to judge by.
    headroom: Option<i64>,
}

fn room(profile: &ResidencyProfile, situation: &Situation, model_loaded: Option<bool>, model_need: u64) -> Room {
    let mut inputs = DecisionInputs {
        vram: "gpu",
        source: None,
        gpu_index: None,
        total_mib: None,
        free_mib: None,
        llm_loaded: situation.loaded.llm,
        model_loaded,
        llm_need_mib: profile.llm_need_mib,
        model_need_mib: model_need,
        margin_mib: profile.margin_mib,
        headroom_mib: None,
    };
    let gpu = match &situation.vram {
        VramState::NoGpu { .. } => {
            inputs.vram = "no_gpu";
            return Room { inputs, headroom: None };
        }
        VramState::Unknown { .. } => {
            inputs.vram = "unknown";
            return Room { inputs, headroom: None };
        }
        VramState::Gpus { source, .. } => {
            inputs.source = Some(source);
            situation.vram.gpu(profile.gpu_index)
        }
    };
    let Some(gpu) = gpu else {
        inputs.vram = "gpu_missing";
        return Room { inputs, headroom: None };
    };
    inputs.gpu_index = Some(gpu.index);
    inputs.total_mib = Some(gpu.total_mib);
    inputs.free_mib = Some(gpu.free_mib);
    let model_room = if model_loaded == Some(true) { 0 } else { model_need };
    let llm_room = if situation.loaded.llm == Some(true) { 0 } else { profile.llm_need_mib };
    let headroom = to_i64(gpu.free_mib) - to_i64(model_room) - to_i64(llm_room) - to_i64(profile.margin_mib);
    inputs.headroom_mib = Some(headroom);
    Room { inputs, headroom: Some(headroom) }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn vram_reason(situation: &Situation, profile: &ResidencyProfile) -> String {
    match &situation.vram {
        VramState::NoGpu { reason } => format!("no GPU ({reason})"),
        VramState::Unknown { error } => format!("VRAM unknown ({error})"),
        VramState::Gpus { .. } => match profile.gpu_index {
            Some(i) => format!("GPU {i} not found"),
            None => "no GPU listed".into(),
        },
    }
}

/// Whether the OCR model stays loaded after this request, and the `keep_alive` its calls carry.
pub fn ocr_residency(profile: &ResidencyProfile, situation: &Situation) -> ResidencyDecision {
    let Room { inputs, headroom } = room(profile, situation, situation.loaded.ocr, profile.ocr_need_mib);
    let keep = |reason: String, inputs: DecisionInputs| ResidencyDecision {
        decision: Residency::KeepResident,
        keep_alive: profile.resident_keep_alive.clone(),
        after_request_keep_alive: None,
        reason,
        inputs,
    };
    let unload = |reason: String, inputs: DecisionInputs| ResidencyDecision {
        decision: Residency::UnloadAfterRequest,
        keep_alive: profile.pressure_hold.clone(),
        after_request_keep_alive: Some("0".into()),
        reason,
        inputs,
    };
    if !profile.adaptive {
        return keep("adaptive residency is off (OCR_ADAPTIVE_RESIDENCY=false)".into(), inputs);
    }
    match (headroom, &situation.vram) {
        (None, VramState::NoGpu { .. }) => {
            keep(format!("{}: models run on the CPU, no VRAM to protect", vram_reason(situation, profile)), inputs)
        }
        (None, _) => unload(format!("{}: unloading after the request to be safe", vram_reason(situation, profile)), inputs),
        (Some(h), _) if h >= 0 => {
            let llm = if situation.loaded.llm == Some(true) { "the LLM is loaded".to_string() } else {
                format!("the LLM's {} MiB", profile.llm_need_mib)
            };
            keep(format!("{h} MiB to spare with the OCR model resident, after {llm} and a {} MiB margin", profile.margin_mib), inputs)
        }
        (Some(h), _) => unload(
            format!(
                "VRAM pressure: {} MiB short of room for the LLM ({} MiB) and a {} MiB margin with the OCR model resident",
                -h, profile.llm_need_mib, profile.margin_mib
            ),
            inputs,
        ),
    }
}

/// Where a retrieval model of `need_mib` runs: on the GPU only when that leaves the LLM its room;
/// under pressure or with VRAM unknown, forced onto the CPU.
pub fn retrieval_placement(
    profile: &ResidencyProfile,
    situation: &Situation,
    model_loaded: Option<bool>,
    need_mib: u64,
) -> Placement {
    let Room { inputs, headroom } = room(profile, situation, model_loaded, need_mib);
    match (headroom, &situation.vram) {
        (None, VramState::NoGpu { .. }) => Placement {
            device: Device::Cpu,
            num_gpu: None,
            reason: format!("{}: CPU", vram_reason(situation, profile)),
            inputs,
        },
        (None, _) => Placement {
            device: Device::Cpu,
            num_gpu: Some(0),
            reason: format!("{}: forced onto the CPU", vram_reason(situation, profile)),
            inputs,
        },
        (Some(h), _) if h >= 0 => Placement {
            device: Device::Gpu,
            num_gpu: None,
            reason: format!("{h} MiB to spare after the LLM's need and the margin"),
            inputs,
        },
        (Some(h), _) => Placement {
            device: Device::Cpu,
            num_gpu: Some(0),
            reason: format!("VRAM pressure ({} MiB short): forced onto the CPU", -h),
            inputs,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vram::{FixedMonitor, GpuMemory};

    fn profile() -> ResidencyProfile {
        ResidencyProfile {
            adaptive: true,
            llm_model: Some("np-dms-ai".into()),
            llm_need_mib: 9_000,
            ocr_need_mib: 3_000,
            embed_need_mib: 1_500,
            rerank_need_mib: 1_200,
            margin_mib: 500,
            resident_keep_alive: "10m".into(),
            pressure_hold: "30s".into(),
            gpu_index: None,
        }
    }

    fn gpu(free: u64) -> VramState {
        FixedMonitor::gpu(16_311, free)
    }

    fn loaded(llm: Option<bool>, ocr: Option<bool>) -> LoadedModels {
        LoadedModels { llm, ocr }
    }

    /// The RTX 5060 Ti host of seed 000 (16 GiB) in the situations T034b walks through.
    #[test]
    fn ocr_residency_table() {
        use Residency::*;
        let cases: Vec<(&str, VramState, LoadedModels, Residency, Option<i64>)> = vec![
            (
                "idle GPU, nothing loaded: room for both",
                gpu(16_000),
                loaded(Some(false), Some(false)),
                KeepResident,
                Some(3_500),
            ),
            ("exactly enough room", gpu(12_500), loaded(Some(false), Some(false)), KeepResident, Some(0)),
            ("one MiB short", gpu(12_499), loaded(Some(false), Some(false)), UnloadAfterRequest, Some(-1)),
            (
                "OCR loaded, LLM not, room for the LLM",
                gpu(10_000),
                loaded(Some(false), Some(true)),
                KeepResident,
                Some(500),
            ),
            (
                "OCR loaded, LLM not, no room for the LLM",
                gpu(8_000),
                loaded(Some(false), Some(true)),
                UnloadAfterRequest,
                Some(-1_500),
            ),
            ("LLM loaded, OCR fits beside it", gpu(4_000), loaded(Some(true), Some(false)), KeepResident, Some(500)),
            (
                "LLM loaded, OCR does not fit",
                gpu(3_000),
                loaded(Some(true), Some(false)),
                UnloadAfterRequest,
                Some(-500),
            ),
            ("both loaded, margin left", gpu(600), loaded(Some(true), Some(true)), KeepResident, Some(100)),
            ("both loaded, below the margin", gpu(200), loaded(Some(true), Some(true)), UnloadAfterRequest, Some(-300)),
            (
                "loaded state unknown counts as not loaded",
                gpu(10_000),
                loaded(None, None),
                UnloadAfterRequest,
                Some(-2_500),
            ),
            ("GPU full", gpu(0), loaded(None, None), UnloadAfterRequest, Some(-12_500)),
            (
                "no GPU: CPU models, nothing to protect",
                VramState::NoGpu { reason: "none".into() },
                loaded(None, None),
                KeepResident,
                None,
            ),
            (
                "VRAM unreadable: unload to be safe",
                VramState::Unknown { error: "NVML: x".into() },
                loaded(None, None),
                UnloadAfterRequest,
                None,
            ),
        ];
        for (name, vram, loaded, want, headroom) in cases {
            let d = ocr_residency(&profile(), &Situation { vram, loaded });
            assert_eq!(d.decision, want, "{name}: {}", d.reason);
            assert_eq!(d.inputs.headroom_mib, headroom, "{name}");
            match want {
                KeepResident => {
                    assert_eq!(d.keep_alive, "10m", "{name}");
                    assert_eq!(d.after_request_keep_alive, None, "{name}");
                }
                UnloadAfterRequest => {
                    assert_eq!(d.keep_alive, "30s", "{name}");
                    assert_eq!(d.after_request_keep_alive.as_deref(), Some("0"), "{name}");
                }
            }
            assert!(!d.reason.is_empty());
        }
    }

    #[test]
    fn non_adaptive_profile_always_keeps_the_model() {
        let p = ResidencyProfile { adaptive: false, ..profile() };
        for vram in [gpu(0), VramState::Unknown { error: "x".into() }, gpu(16_000)] {
            let d = ocr_residency(&p, &Situation { vram, loaded: LoadedModels::default() });
            assert_eq!(d.decision, Residency::KeepResident);
            assert!(d.reason.contains("OCR_ADAPTIVE_RESIDENCY"));
        }
    }

    #[test]
    fn a_configured_gpu_index_is_judged_alone() {
        let vram = VramState::Gpus {
            source: "nvml",
            gpus: vec![
                GpuMemory { index: 0, name: None, total_mib: 16_000, used_mib: 15_500, free_mib: 500 },
                GpuMemory { index: 1, name: None, total_mib: 16_000, used_mib: 0, free_mib: 16_000 },
            ],
        };
        let s = Situation { vram, loaded: LoadedModels::default() };
        assert_eq!(ocr_residency(&profile(), &s).decision, Residency::KeepResident);
        let p0 = ResidencyProfile { gpu_index: Some(0), ..profile() };
        assert_eq!(ocr_residency(&p0, &s).decision, Residency::UnloadAfterRequest);
        let p9 = ResidencyProfile { gpu_index: Some(9), ..profile() };
        let d = ocr_residency(&p9, &s);
        assert_eq!(d.decision, Residency::UnloadAfterRequest);
        assert!(d.reason.contains("GPU 9 not found"), "{}", d.reason);
    }

    #[test]
    fn retrieval_placement_table() {
        let cases: Vec<(&str, VramState, LoadedModels, Device, Option<u32>)> = vec![
            ("plenty of room", gpu(16_000), loaded(Some(false), None), Device::Gpu, None),
            ("LLM loaded, room beside it", gpu(2_500), loaded(Some(true), None), Device::Gpu, None),
            ("LLM loaded, GPU nearly full", gpu(1_000), loaded(Some(true), None), Device::Cpu, Some(0)),
            ("LLM not loaded, would not fit after it", gpu(10_000), loaded(Some(false), None), Device::Cpu, Some(0)),
            ("no GPU", VramState::NoGpu { reason: "none".into() }, loaded(None, None), Device::Cpu, None),
            ("unknown", VramState::Unknown { error: "x".into() }, loaded(None, None), Device::Cpu, Some(0)),
        ];
        for (name, vram, loaded, device, num_gpu) in cases {
            let p = retrieval_placement(&profile(), &Situation { vram, loaded }, None, 1_500);
            assert_eq!((p.device, p.num_gpu), (device, num_gpu), "{name}: {}", p.reason);
        }
    }

    #[test]
    fn decisions_serialise_with_their_inputs() {
        let d = ocr_residency(&profile(), &Situation { vram: gpu(8_000), loaded: loaded(Some(false), Some(true)) });
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["decision"], "unload_after_request");
        assert_eq!(v["keep_alive"], "30s");
        assert_eq!(v["after_request_keep_alive"], "0");
        assert_eq!(v["inputs"]["free_mib"], 8_000);
        assert_eq!(v["inputs"]["source"], "fixed");
        assert_eq!(v["inputs"]["headroom_mib"], -1_500);
    }
}
