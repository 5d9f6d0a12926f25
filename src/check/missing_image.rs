#![doc = include_str!("../../docs/codes/missing-image.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;
use crate::spec::model::{ModelFormat, TargetKind};

/// A plain Kubernetes deployment, and any model of format `custom`, need `target.image`: there is
/// no stock server to fall back on.
pub struct MissingImage;

impl Rule for MissingImage {
    fn code(&self) -> Code {
        Code::MissingImage
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (name, deployment) in &cx.config.deployments {
            if deployment.target.image.is_some() {
                continue;
            }
            let custom_format = cx
                .config
                .training
                .get(&deployment.model)
                .and_then(|training| training.model.as_ref())
                .is_some_and(|model| model.format == ModelFormat::Custom);
            let reason = if deployment.target.kind == TargetKind::Kubernetes {
                "`kind: kubernetes` runs your own serving image".to_owned()
            } else if custom_format {
                format!(
                    "`{}` has model format `custom`, which no stock server runs",
                    deployment.model
                )
            } else {
                continue;
            };
            let pointer = format!("/deployments/{}/target", escape_pointer_token(name));
            out.push(
                Diag::error(
                    Code::MissingImage,
                    format!("deployment `{name}` needs `target.image`: {reason}"),
                    cx.key_label(&pointer, "no `image` in this target"),
                )
                .with_help("add `image: REGISTRY/NAME:TAG` (pin a tag or a digest) under `target`"),
            );
        }
    }
}
