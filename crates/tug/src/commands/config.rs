//! `tug config`: the resolved stack as tugboat understood it, in the shape `docker compose config` prints.

use tugboat::stack::yaml::{Node, NodeKind};

use crate::cli::{ConfigArgs, ConfigFormat, Global};
use crate::exit::Exit;
use crate::render;

pub fn run(g: &Global, args: &ConfigArgs) -> anyhow::Result<Exit> {
    let stack = super::load_stack(&args.dir, g, true)?;
    // Like `docker compose config`: only the services the active profiles start, and what they use.
    let mut root = tugboat::stack::project::for_profiles(&stack.project.root, &stack.active_profiles);
    if let NodeKind::Map(entries) = &mut root.kind {
        // Compose prints the project name first.
        entries.retain(|(k, _)| k.name != "name" && k.name != "version");
        let span = root.span.clone();
        entries.insert(
            0,
            (
                tugboat::stack::yaml::Key { name: "name".into(), span: span.clone() },
                Node::string(stack.project.name.clone(), span),
            ),
        );
    }
    if !args.show_secrets {
        mask_secrets(&mut root, None);
    }
    // Printed values are interpolated already: a `$` is written `$$` so the output reads back the same.
    escape_dollars(&mut root);
    let value = root.to_json();
    if g.json || args.format == ConfigFormat::Json {
        super::print_json(&value)?;
    } else {
        super::out(&render::yaml::to_yaml(&value))?;
    }
    Ok(Exit::Ok)
}

/// Masks values of secret-named keys and passwords inside URLs.
fn mask_secrets(node: &mut Node, key: Option<&str>) {
    match &mut node.kind {
        NodeKind::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                mask_secrets(v, Some(&k.name));
            }
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(|i| mask_secrets(i, key)),
        NodeKind::Scalar { value, quoted } => {
            if !*quoted && matches!(value.as_str(), "" | "~" | "null") {
                return;
            }
            if key.is_some_and(tugboat::secret::is_secret_name) && !value.is_empty() {
                *value = tugboat::secret::MASK.into();
                *quoted = true;
            } else if let std::borrow::Cow::Owned(masked) = tugboat::secret::mask_urls(value) {
                *value = masked;
            } else if let Some((k, v)) = value.split_once('=') {
                if tugboat::secret::is_secret_name(k) && !v.is_empty() {
                    *value = format!("{k}=***");
                }
            }
        }
    }
}

fn escape_dollars(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(_, v)| escape_dollars(v)),
        NodeKind::Seq(items) => items.iter_mut().for_each(escape_dollars),
        NodeKind::Scalar { value, .. } => {
            if value.contains('$') {
                *value = value.replace('$', "$$");
            }
        }
    }
}
