//! The YAML emitter lives in the engine (`tug export k8s` writes YAML too).

pub use tugboat::yaml_emit::to_yaml;
