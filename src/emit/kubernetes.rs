//! Plain Kubernetes: `deploy/<environment>/<deployment>.yaml` for `target.kind: kubernetes`, a
//! `Deployment` and a `Service` (and a `HorizontalPodAutoscaler` for a replica range), with
//! probes, requests and limits, a non-root read-only security context and the recommended
//! `app.kubernetes.io/*` labels.

use super::serving::emit_for_kind;
use super::{Artifact, EmitError, EmitInput, Emitter};
use crate::spec::model::TargetKind;

/// The template it is rendered from.
pub const TEMPLATE: &str = "kubernetes.yaml.j2";

/// The Kubernetes emitter.
pub struct Kubernetes;

impl Emitter for Kubernetes {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        emit_for_kind(input, TargetKind::Kubernetes, TEMPLATE)
    }

    fn owns(&self) -> &'static [super::Owned] {
        &[super::Owned {
            path: "deploy",
            at_root: false,
            file: false,
        }]
    }
}
