//! KServe: `deploy/<environment>/<deployment>.yaml`, an `InferenceService`
//! (`serving.kserve.io/v1beta1`) per deployment of `target.kind: kserve`: the model format's own
//! predictor (or the image, for `custom`), the released model's `storageUri`, replicas,
//! resources, KServe's `canaryTrafficPercent` and `logger`.

use super::serving::emit_for_kind;
use super::{Artifact, EmitError, EmitInput, Emitter};
use crate::spec::model::TargetKind;

/// The template it is rendered from.
pub const TEMPLATE: &str = "kserve.yaml.j2";

/// The KServe emitter.
pub struct Kserve;

impl Emitter for Kserve {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        emit_for_kind(input, TargetKind::Kserve, TEMPLATE)
    }

    fn owns(&self) -> &'static [super::Owned] {
        &[super::Owned {
            path: "deploy",
            at_root: false,
            file: false,
        }]
    }
}
