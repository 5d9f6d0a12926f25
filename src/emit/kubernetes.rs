//! Plain Kubernetes: `deploy/<environment>/<deployment>.yaml` for `target.kind: kubernetes`, a
//! `Deployment` and a `Service` (and a `HorizontalPodAutoscaler` for a replica range), with
//! probes, requests and limits, a non-root read-only security context and the recommended
//! `app.kubernetes.io/*` labels.

use super::serving::serving;
use super::{Artifact, EmitError, EmitInput, Emitter, render_yaml_documents, yaml_header};
use crate::spec::model::TargetKind;

/// The template it is rendered from.
pub const TEMPLATE: &str = "kubernetes.yaml.j2";

/// The Kubernetes emitter.
pub struct Kubernetes;

impl Emitter for Kubernetes {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        let mut artifacts = Vec::new();
        for (name, deployment) in &input.config.deployments {
            if deployment.target.kind != TargetKind::Kubernetes {
                continue;
            }
            let view = serving(input, name, deployment);
            let mut contents = yaml_header(input);
            contents.push_str(&view.release_note);
            contents.push_str(&render_yaml_documents(
                input.templates,
                TEMPLATE,
                &serde_json::json!({ "s": view }),
            )?);
            artifacts.push(Artifact {
                path: format!("deploy/{}/{name}.yaml", deployment.environment),
                contents,
            });
        }
        Ok(artifacts)
    }
}
