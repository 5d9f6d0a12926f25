//! KServe: `deploy/<environment>/<deployment>.yaml`, an `InferenceService`
//! (`serving.kserve.io/v1beta1`) per deployment of `target.kind: kserve`: the model format's own
//! predictor (or the image, for `custom`), the released model's `storageUri`, replicas,
//! resources, KServe's `canaryTrafficPercent` and `logger`.

use super::serving::serving;
use super::{Artifact, EmitError, EmitInput, Emitter, render_yaml_documents, yaml_header};
use crate::spec::model::TargetKind;

/// The template it is rendered from.
pub const TEMPLATE: &str = "kserve.yaml.j2";

/// The KServe emitter.
pub struct Kserve;

impl Emitter for Kserve {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        let mut artifacts = Vec::new();
        for (name, deployment) in &input.config.deployments {
            if deployment.target.kind != TargetKind::Kserve {
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
