//! `build:` contexts for the Engine API builder: the context directory as the tar the docker CLI would
//! send (`.dockerignore` with moby's semantics), plus `dockerfile_inline`.

mod context;

pub use context::{
    clean, context_tar, parse_dockerignore, BuildError, ContextTar, Matcher, PatternError, EXTERNAL_DOCKERFILE,
    INLINE_DOCKERFILE,
};

#[cfg(test)]
mod tests;
