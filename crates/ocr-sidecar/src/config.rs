//! Configuration from the environment, validated once at start-up into [`Config`].
//!
//! Every variable is listed in the crate README. The sidecar holds no generation parameters:
//! temperature, top_p, num_ctx and the like arrive with each request (seed 001 US3).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::residency::ResidencyProfile;

/// How callers prove who they are.
#[derive(Clone)]
pub enum AuthMode {
    /// Every request carries `X-API-Key: <key>` (seed 001 US1). Only the key's SHA-256 is kept.
    ApiKey { digest: [u8; 32] },
    /// No key: the sidecar is reachable only on an internal Docker network (seed 000 US4, ADR-041 phase 2).
    Network,
}

impl AuthMode {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::ApiKey { .. } => "api-key",
            AuthMode::Network => "network",
        }
    }
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which Ollama endpoint carries OCR pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OllamaApi {
    Generate,
    Chat,
}

/// How rendered pages are encoded for the OCR model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// Lossless; encoding costs ~100 ms per page at 150 dpi.
    Png,
    /// About three times faster to encode, lossy at `quality` (1–100).
    Jpeg { quality: u8 },
}

/// Where VRAM readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VramSourceChoice {
    /// NVML, then `nvidia-smi`, then "no GPU".
    Auto,
    Nvml,
    NvidiaSmi,
    /// Never look: the host has no GPU (Ollama on CPU).
    None,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub auth: AuthMode,
    /// Canonical upload directory; `/ocr` paths must resolve inside it.
    pub upload_base: PathBuf,
    pub ollama_url: String,
    pub ocr_model: String,
    pub ocr_api: OllamaApi,
    /// The user prompt sent with each page when the request has none.
    pub ocr_prompt: String,
    pub dpi: u32,
    pub max_dpi: u32,
    /// Longest side of a rendered page in pixels; larger pages are scaled down.
    pub max_page_pixels: u32,
    pub page_format: PageFormat,
    pub max_pages: u32,
    /// Pages of one request in flight at once.
    pub page_concurrency: usize,
    /// Calls to Ollama in flight at once, over all requests.
    pub ollama_concurrency: usize,
    /// pdftoppm processes at once, over all requests.
    pub render_concurrency: usize,
    pub max_file_bytes: u64,
    pub body_limit_bytes: usize,
    pub ollama_timeout: Duration,
    pub render_timeout: Duration,
    pub residency: ResidencyProfile,
    pub vram_source: VramSourceChoice,
    pub embed_model: Option<String>,
    pub embed_max_inputs: usize,
    pub rerank_model_dir: Option<PathBuf>,
    pub rerank_max_length: usize,
    pub rerank_max_documents: usize,
    pub rerank_batch_size: usize,
}

/// A configuration problem, named by its variable, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "OCR_SIDECAR_API_KEY is not set. Set it to a random secret of at least 16 characters \
         (e.g. `openssl rand -hex 32`), or set OCR_SIDECAR_AUTH=network when the sidecar is reachable \
         only on an internal network"
    )]
    MissingApiKey,
    #[error("OCR_SIDECAR_API_KEY is too short ({0} characters); use at least 16 random characters")]
    WeakApiKey(usize),
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("{0} is not set")]
    Missing(&'static str),
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, message: message.into() }
}

struct Env<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn opt(&self, var: &str) -> Option<String> {
        (self.get)(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn string(&self, var: &'static str, default: &str) -> String {
        self.opt(var).unwrap_or_else(|| default.to_string())
    }

    fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
        &self,
        var: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.opt(var) else { return Ok(default) };
        let value: T = raw.parse().map_err(|_| invalid(var, format!("expected a number, found {raw:?}")))?;
        if value < min || value > max {
            return Err(invalid(var, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.opt(var).as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(invalid(var, format!("expected true or false, found {other:?}"))),
        }
    }
}

/// Parses an Ollama duration as `keep_alive` accepts it: `30s`, `10m`, `1h`, `-1` (forever) or `0`.
pub fn parse_keep_alive(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw == "0" || raw == "-1" {
        return Some(raw.to_string());
    }
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit())?);
    if num.is_empty() || !matches!(unit, "s" | "m" | "h") {
        return None;
    }
    num.parse::<u32>().ok().map(|_| raw.to_string())
}

/// The residency thresholds and the VRAM source alone (what `ocr-sidecar vram-report` needs).
pub fn residency_from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(ResidencyProfile, VramSourceChoice), ConfigError> {
    residency_from(&Env { get })
}

fn residency_from(env: &Env<'_>) -> Result<(ResidencyProfile, VramSourceChoice), ConfigError> {
    let keep_alive_raw = env.string("OCR_KEEP_ALIVE", "10m");
    let resident_keep_alive = parse_keep_alive(&keep_alive_raw).ok_or_else(|| {
        invalid("OCR_KEEP_ALIVE", format!("expected e.g. 30s, 10m, 1h or -1, found {keep_alive_raw:?}"))
    })?;
    let hold_raw = env.string("OCR_PRESSURE_HOLD", "30s");
    let pressure_hold = parse_keep_alive(&hold_raw)
        .filter(|v| v != "0" && v != "-1")
        .ok_or_else(|| invalid("OCR_PRESSURE_HOLD", format!("expected e.g. 30s or 2m, found {hold_raw:?}")))?;
    let gpu_index = match env.opt("OCR_GPU_INDEX") {
        None => None,
        Some(v) => {
            Some(v.parse::<u32>().map_err(|_| invalid("OCR_GPU_INDEX", format!("expected 0, 1, …, found {v:?}")))?)
        }
    };
    let residency = ResidencyProfile {
        adaptive: env.flag("OCR_ADAPTIVE_RESIDENCY", true)?,
        llm_model: env.opt("LLM_MODEL"),
        llm_need_mib: env.number("LLM_VRAM_MIB", 10_240u64, 0, 1 << 24)?,
        ocr_need_mib: env.number("OCR_MODEL_VRAM_MIB", 3_072u64, 0, 1 << 24)?,
        embed_need_mib: env.number("EMBED_VRAM_MIB", 1_536u64, 0, 1 << 24)?,
        rerank_need_mib: env.number("RERANK_VRAM_MIB", 1_536u64, 0, 1 << 24)?,
        margin_mib: env.number("VRAM_MARGIN_MIB", 512u64, 0, 1 << 24)?,
        resident_keep_alive,
        pressure_hold,
        gpu_index,
    };
    let vram_source = match env.string("OCR_SIDECAR_VRAM_SOURCE", "auto").as_str() {
        "auto" => VramSourceChoice::Auto,
        "nvml" => VramSourceChoice::Nvml,
        "nvidia-smi" => VramSourceChoice::NvidiaSmi,
        "none" => VramSourceChoice::None,
        other => {
            return Err(invalid(
                "OCR_SIDECAR_VRAM_SOURCE",
                format!("expected auto, nvml, nvidia-smi or none, found {other:?}"),
            ))
        }
    };
    Ok((residency, vram_source))
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env { get };
        let auth = match env.string("OCR_SIDECAR_AUTH", "api-key").to_ascii_lowercase().as_str() {
            "api-key" | "apikey" | "key" => {
                let key = (env.get)("OCR_SIDECAR_API_KEY").unwrap_or_default();
                let key = key.trim();
                if key.is_empty() {
                    return Err(ConfigError::MissingApiKey);
                }
                if key.chars().count() < 16 {
                    return Err(ConfigError::WeakApiKey(key.chars().count()));
                }
                AuthMode::ApiKey { digest: crate::auth::digest(key.as_bytes()) }
            }
            "network" => AuthMode::Network,
            other => return Err(invalid("OCR_SIDECAR_AUTH", format!("expected api-key or network, found {other:?}"))),
        };
        let listen_raw = env.string("OCR_SIDECAR_LISTEN", "127.0.0.1:8765");
        let listen = listen_raw
            .parse()
            .map_err(|_| invalid("OCR_SIDECAR_LISTEN", format!("expected ADDRESS:PORT, found {listen_raw:?}")))?;

        let base_raw = env.opt("OCR_SIDECAR_UPLOAD_BASE").ok_or(ConfigError::Missing("OCR_SIDECAR_UPLOAD_BASE"))?;
        let upload_base = std::fs::canonicalize(&base_raw)
            .map_err(|e| invalid("OCR_SIDECAR_UPLOAD_BASE", format!("{base_raw}: {e}")))?;
        if !upload_base.is_dir() {
            return Err(invalid("OCR_SIDECAR_UPLOAD_BASE", format!("{base_raw} is not a directory")));
        }

        let ollama_url = env.string("OLLAMA_API_URL", "http://127.0.0.1:11434").trim_end_matches('/').to_string();
        if !(ollama_url.starts_with("http://") || ollama_url.starts_with("https://")) {
            return Err(invalid("OLLAMA_API_URL", format!("expected an http(s) URL, found {ollama_url:?}")));
        }
        let ocr_model = env.opt("OCR_MODEL").ok_or(ConfigError::Missing("OCR_MODEL"))?;
        let ocr_api = match env.string("OCR_OLLAMA_API", "generate").as_str() {
            "generate" => OllamaApi::Generate,
            "chat" => OllamaApi::Chat,
            other => return Err(invalid("OCR_OLLAMA_API", format!("expected generate or chat, found {other:?}"))),
        };
        let max_dpi = env.number("OCR_MAX_DPI", 300u32, 36, 600)?;
        let dpi = env.number("OCR_DPI", 150u32.min(max_dpi), 36, max_dpi)?;

        let (residency, vram_source) = residency_from(&env)?;
        let rerank_model_dir = match env.opt("RERANK_MODEL_DIR") {
            None => None,
            Some(dir) => {
                let path = PathBuf::from(&dir);
                for file in ["config.json", "model.safetensors", "tokenizer.json"] {
                    if !path.join(file).is_file() {
                        return Err(invalid("RERANK_MODEL_DIR", format!("{dir} has no {file}")));
                    }
                }
                Some(path)
            }
        };
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Config {
            listen,
            auth,
            upload_base,
            ollama_url,
            ocr_model,
            ocr_api,
            ocr_prompt: env.string("OCR_PROMPT", "Extract all text from this page."),
            dpi,
            max_dpi,
            max_page_pixels: env.number("OCR_MAX_PAGE_PIXELS", 4_000u32, 256, 16_384)?,
            page_format: match env.string("OCR_PAGE_FORMAT", "png").as_str() {
                "png" => PageFormat::Png,
                "jpeg" | "jpg" => PageFormat::Jpeg { quality: env.number("OCR_JPEG_QUALITY", 92u8, 1, 100)? },
                other => return Err(invalid("OCR_PAGE_FORMAT", format!("expected png or jpeg, found {other:?}"))),
            },
            max_pages: env.number("OCR_MAX_PAGES", 200u32, 1, 5_000)?,
            page_concurrency: env.number("OCR_PAGE_CONCURRENCY", 4usize, 1, 256)?,
            ollama_concurrency: env.number("OCR_OLLAMA_CONCURRENCY", 4usize, 1, 256)?,
            render_concurrency: env.number("OCR_RENDER_CONCURRENCY", cpus, 1, 256)?,
            max_file_bytes: env.number("OCR_MAX_FILE_MB", 100u64, 1, 4_096)? * 1024 * 1024,
            body_limit_bytes: env.number("OCR_SIDECAR_BODY_LIMIT_KB", 1_024usize, 1, 65_536)? * 1024,
            ollama_timeout: Duration::from_secs(env.number("OLLAMA_TIMEOUT_S", 300u64, 1, 3_600)?),
            render_timeout: Duration::from_secs(env.number("OCR_RENDER_TIMEOUT_S", 60u64, 1, 3_600)?),
            residency,
            vram_source,
            embed_model: env.opt("EMBED_MODEL"),
            embed_max_inputs: env.number("EMBED_MAX_INPUTS", 256usize, 1, 65_536)?,
            rerank_model_dir,
            rerank_max_length: env.number("RERANK_MAX_LENGTH", 512usize, 8, 8_192)?,
            rerank_max_documents: env.number("RERANK_MAX_DOCUMENTS", 256usize, 1, 65_536)?,
            rerank_batch_size: env.number("RERANK_BATCH_SIZE", 16usize, 1, 1_024)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(&move |k| map.get(k).cloned())
    }

    fn base() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        (dir, path)
    }

    #[test]
    fn a_missing_key_is_refused_with_guidance() {
        let (_d, b) = base();
        let err = config(&[("OCR_SIDECAR_UPLOAD_BASE", &b), ("OCR_MODEL", "m")]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingApiKey));
        assert!(err.to_string().contains("OCR_SIDECAR_AUTH=network"));
        let err = config(&[("OCR_SIDECAR_API_KEY", "   "), ("OCR_SIDECAR_UPLOAD_BASE", &b), ("OCR_MODEL", "m")]);
        assert!(matches!(err, Err(ConfigError::MissingApiKey)));
    }

    #[test]
    fn a_short_key_is_refused() {
        let (_d, b) = base();
        let err = config(&[("OCR_SIDECAR_API_KEY", "short"), ("OCR_SIDECAR_UPLOAD_BASE", &b), ("OCR_MODEL", "m")]);
        assert!(matches!(err, Err(ConfigError::WeakApiKey(5))));
    }

    #[test]
    fn network_mode_needs_no_key_and_defaults_apply() {
        let (_d, b) = base();
        let c =
            config(&[("OCR_SIDECAR_AUTH", "network"), ("OCR_SIDECAR_UPLOAD_BASE", &b), ("OCR_MODEL", "m")]).unwrap();
        assert!(matches!(c.auth, AuthMode::Network));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8765");
        assert_eq!(c.dpi, 150);
        assert!(c.residency.adaptive);
        assert_eq!(c.residency.resident_keep_alive, "10m");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let (_d, b) = base();
        let common = [("OCR_SIDECAR_AUTH", "network"), ("OCR_SIDECAR_UPLOAD_BASE", b.as_str()), ("OCR_MODEL", "m")];
        for (var, value) in [
            ("OCR_DPI", "9000"),
            ("OCR_KEEP_ALIVE", "forever"),
            ("OCR_PRESSURE_HOLD", "0"),
            ("OCR_ADAPTIVE_RESIDENCY", "maybe"),
            ("OCR_SIDECAR_LISTEN", "nowhere"),
            ("OCR_PAGE_FORMAT", "gif"),
            ("OCR_SIDECAR_AUTH", "none"),
            ("OLLAMA_API_URL", "ollama:11434"),
            ("RERANK_MODEL_DIR", "/nonexistent"),
        ] {
            let mut vars = common.to_vec();
            vars.retain(|(k, _)| *k != var);
            vars.push((var, value));
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.contains(var), "{var}: {err}");
        }
        let err = config(&[("OCR_SIDECAR_AUTH", "network"), ("OCR_MODEL", "m")]).unwrap_err();
        assert!(err.to_string().contains("OCR_SIDECAR_UPLOAD_BASE"));
    }

    #[test]
    fn keep_alive_values() {
        for ok in ["0", "-1", "30s", "10m", "1h"] {
            assert_eq!(parse_keep_alive(ok).as_deref(), Some(ok));
        }
        for bad in ["", "m", "10", "10d", "ten", "1.5m", "-5m"] {
            assert_eq!(parse_keep_alive(bad), None, "{bad}");
        }
    }
}
