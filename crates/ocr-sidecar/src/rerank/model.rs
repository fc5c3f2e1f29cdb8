//! The cross-encoder forward pass of the BERT family in candle: `XLMRobertaForSequenceClassification`
//! (bge-reranker-base/-large, bge-reranker-v2-m3) and `BertForSequenceClassification`
//! (MiniLM-style cross-encoders). Written out here (about 250 lines) instead of depending on all of
//! candle-transformers; checked against PyTorch's logits in `tests/rerank.rs`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of a Hugging Face `config.json` that the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "one")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default)]
    pub id2label: Option<HashMap<String, String>>,
}

fn default_act() -> String {
    "gelu".into()
}
fn one() -> usize {
    1
}
fn default_eps() -> f64 {
    1e-12
}

/// Which head and position scheme the weights use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// RoBERTa / XLM-R: positions start after the padding index; `classifier.dense` + `out_proj`.
    Roberta,
    /// BERT: positions from 0; `pooler` + `classifier`.
    Bert,
}

impl ModelConfig {
    pub fn arch(&self) -> Result<Arch, String> {
        let arch = self.architectures.first().map(String::as_str).unwrap_or("");
        match (arch, self.model_type.as_deref()) {
            ("XLMRobertaForSequenceClassification" | "RobertaForSequenceClassification", _) => Ok(Arch::Roberta),
            ("BertForSequenceClassification", _) => Ok(Arch::Bert),
            ("", Some("xlm-roberta" | "roberta")) => Ok(Arch::Roberta),
            ("", Some("bert")) => Ok(Arch::Bert),
            _ => Err(format!(
                "unsupported architecture {arch:?} (model_type {:?}); expected a BERT or XLM-R sequence classifier",
                self.model_type
            )),
        }
    }

    pub fn num_labels(&self) -> usize {
        self.id2label.as_ref().map_or(1, |m| m.len().max(1))
    }

    /// The longest input the position table allows.
    pub fn max_tokens(&self, arch: Arch) -> usize {
        match arch {
            Arch::Roberta => self.max_position_embeddings.saturating_sub(self.pad_token_id.unwrap_or(1) as usize + 1),
            Arch::Bert => self.max_position_embeddings,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Gelu,
    GeluTanh,
    Relu,
}

impl Act {
    fn parse(name: &str) -> Result<Act, String> {
        match name {
            "gelu" => Ok(Act::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Act::GeluTanh),
            "relu" => Ok(Act::Relu),
            other => Err(format!("unsupported hidden_act {other:?}")),
        }
    }

    fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Act::Gelu => x.gelu_erf(),
            Act::GeluTanh => x.gelu(),
            Act::Relu => x.relu(),
        }
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_norm: LayerNorm,
}

impl Layer {
    fn load(cfg: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let att = vb.pp("attention");
        Ok(Layer {
            query: linear(h, h, att.pp("self").pp("query"))?,
            key: linear(h, h, att.pp("self").pp("key"))?,
            value: linear(h, h, att.pp("self").pp("value"))?,
            attn_out: linear(h, h, att.pp("output").pp("dense"))?,
            attn_norm: layer_norm(h, eps, att.pp("output").pp("LayerNorm"))?,
            intermediate: linear(h, cfg.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            output: linear(cfg.intermediate_size, h, vb.pp("output").pp("dense"))?,
            out_norm: layer_norm(h, eps, vb.pp("output").pp("LayerNorm"))?,
        })
    }

    fn forward(&self, x: &Tensor, mask: &Tensor, heads: usize, act: Act) -> candle_core::Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let d = h / heads;
        let split = |t: Tensor| t.reshape((b, s, heads, d))?.transpose(1, 2)?.contiguous();
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, s, h))?;
        let attended = self.attn_norm.forward(&(self.attn_out.forward(&ctx)? + x)?)?;
        let inner = act.apply(&self.intermediate.forward(&attended)?)?;
        self.out_norm.forward(&(self.output.forward(&inner)? + attended)?)
    }
}

enum Head {
    Roberta { dense: Linear, out_proj: Linear },
    Bert { pooler: Linear, classifier: Linear },
}

/// A loaded cross-encoder on one device.
pub struct CrossEncoder {
    pub config: ModelConfig,
    pub arch: Arch,
    act: Act,
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    head: Head,
    device: Device,
}

impl CrossEncoder {
    /// Loads `config.json` and `model.safetensors` from `dir` onto `device` (as f32).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, String> {
        let config_text = std::fs::read_to_string(dir.join("config.json")).map_err(|e| format!("config.json: {e}"))?;
        let config: ModelConfig = serde_json::from_str(&config_text).map_err(|e| format!("config.json: {e}"))?;
        let arch = config.arch()?;
        let act = Act::parse(&config.hidden_act)?;
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err("hidden_size is not a multiple of num_attention_heads".into());
        }
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), device)
            .map_err(|e| format!("model.safetensors: {e}"))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Self::from_var_builder(config, arch, act, vb, device).map_err(|e| format!("model.safetensors: {e}"))
    }

    fn from_var_builder(
        config: ModelConfig,
        arch: Arch,
        act: Act,
        vb: VarBuilder,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        let base = vb.pp(match arch {
            Arch::Roberta => "roberta",
            Arch::Bert => "bert",
        });
        let emb = base.pp("embeddings");
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(&config, base.pp("encoder").pp("layer").pp(i.to_string())))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let labels = config.num_labels();
        let head = match arch {
            Arch::Roberta => Head::Roberta {
                dense: linear(h, h, vb.pp("classifier").pp("dense"))?,
                out_proj: linear(h, labels, vb.pp("classifier").pp("out_proj"))?,
            },
            Arch::Bert => Head::Bert {
                pooler: linear(h, h, base.pp("pooler").pp("dense"))?,
                classifier: linear(h, labels, vb.pp("classifier"))?,
            },
        };
        Ok(CrossEncoder {
            word: embedding(config.vocab_size, h, emb.pp("word_embeddings"))?,
            position: embedding(config.max_position_embeddings, h, emb.pp("position_embeddings"))?,
            token_type: embedding(config.type_vocab_size, h, emb.pp("token_type_embeddings"))?,
            embed_norm: layer_norm(h, config.layer_norm_eps, emb.pp("LayerNorm"))?,
            layers,
            head,
            act,
            arch,
            config,
            device: device.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The first logit for each row of a right-padded batch. `ids`, `type_ids` and `mask` are
    /// `rows × width`, row-major; `mask` is 1 for real tokens and 0 for padding.
    pub fn logits(&self, ids: &[u32], type_ids: &[u32], mask: &[u32], rows: usize) -> candle_core::Result<Vec<f32>> {
        if rows == 0 {
            return Ok(Vec::new());
        }
        let width = ids.len() / rows;
        let pad = self.config.pad_token_id.unwrap_or(1);
        let positions: Vec<u32> = match self.arch {
            // create_position_ids_from_input_ids: running count of real tokens, offset by the padding index.
            Arch::Roberta => mask
                .chunks(width)
                .flat_map(|row| {
                    let mut count = 0;
                    row.iter()
                        .map(|&m| {
                            count += m;
                            if m == 1 {
                                count + pad
                            } else {
                                pad
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
            Arch::Bert => (0..rows).flat_map(|_| 0..u32::try_from(width).unwrap_or(u32::MAX)).collect(),
        };
        let types: Vec<u32> = match self.arch {
            Arch::Roberta if self.config.type_vocab_size == 1 => vec![0; ids.len()],
            _ => type_ids.to_vec(),
        };
        let dev = &self.device;
        let ids = Tensor::from_slice(ids, (rows, width), dev)?;
        let positions = Tensor::from_slice(&positions, (rows, width), dev)?;
        let types = Tensor::from_slice(&types, (rows, width), dev)?;
        let additive: Vec<f32> = mask.iter().map(|&m| if m == 1 { 0.0 } else { -1e30 }).collect();
        let mask = Tensor::from_slice(&additive, (rows, 1, 1, width), dev)?;

        let x =
            ((self.word.forward(&ids)? + self.position.forward(&positions)?)? + self.token_type.forward(&types)?)?;
        let mut x = self.embed_norm.forward(&x)?;
        for layer in &self.layers {
            x = layer.forward(&x, &mask, self.config.num_attention_heads, self.act)?;
        }
        let first = x.i((.., 0, ..))?.contiguous()?;
        let logits = match &self.head {
            Head::Roberta { dense, out_proj } => out_proj.forward(&dense.forward(&first)?.tanh()?)?,
            Head::Bert { pooler, classifier } => classifier.forward(&pooler.forward(&first)?.tanh()?)?,
        };
        logits.i((.., 0))?.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.to_vec1::<f32>()
    }
}
