//! The shell commands of the steps that run `mlops` itself (a gate's verdict, a deploy's
//! upload and promotion), shared by every CI emitter so that GitHub, GitLab and the others run
//! the same path. Every config string is one inert shell word ([`shell_quote`]).

use super::templates::shell_quote;
use crate::plan::Promotion;

/// A gate's evaluation against `$BASE`, the job's baseline revision; with `junit`, also its
/// `JUnit` report at that path (a shell word the caller wrote, such as `"$CI_PROJECT_DIR/x.xml"`).
#[must_use]
pub fn gate(config_file: &str, gate: &str, junit: Option<&str>) -> String {
    let junit = junit
        .map(|path| format!(" --junit {path}"))
        .unwrap_or_default();
    format!(
        "mlops gate {} --gate {} --base \"$BASE\"{junit}\n",
        shell_quote(config_file),
        shell_quote(gate)
    )
}

/// Upload the model content-addressed (the same model always lands at the same URI), then
/// publish the release with `mlops promote --publish`. With `approved`, the approval was given
/// in CI itself (GitLab's manual job on a protected environment) and the release goes straight
/// to its branch; without, an approval-gated one goes through a pull request.
#[must_use]
pub fn promotion(config_file: &str, promotion: &Promotion, approved: bool) -> String {
    let config = shell_quote(config_file);
    let model = shell_quote(&promotion.model_path);
    let mut script = format!(
        "digest=$(sha256sum -- {model} | cut -d' ' -f1)\nuri={}/\"$digest\"/$(basename -- {model})\n",
        shell_quote(&promotion.registry)
    );
    if promotion.registry.starts_with("gs://") {
        script.push_str(&format!("gcloud storage cp -- {model} \"$uri\"\n"));
    } else {
        script.push_str(&format!(
            "aws s3 cp --only-show-errors -- {model} \"$uri\"\n"
        ));
    }
    // A monitored deployment's reference table goes beside the model, named by the model's
    // digest, so each release keeps the sample its model was trained on.
    let reference = match &promotion.reference_path {
        None => "",
        Some(table) => {
            let extension = if table.ends_with(".parquet") {
                "parquet"
            } else {
                "csv"
            };
            let table = shell_quote(table);
            script.push_str(&format!(
                "reference_digest=$(sha256sum -- {table} | cut -d' ' -f1)\n\
                 reference_uri={}/\"$digest\"/reference.{extension}\n",
                shell_quote(&promotion.registry)
            ));
            if promotion.registry.starts_with("gs://") {
                script.push_str(&format!(
                    "gcloud storage cp -- {table} \"$reference_uri\"\n"
                ));
            } else {
                script.push_str(&format!(
                    "aws s3 cp --only-show-errors -- {table} \"$reference_uri\"\n"
                ));
            }
            " --reference-uri \"$reference_uri\" --reference-digest \"sha256:$reference_digest\""
        }
    };
    let metrics = promotion
        .metrics_path
        .as_deref()
        .map(|metrics| format!(" --metrics {}", shell_quote(metrics)))
        .unwrap_or_default();
    let approved = if approved && promotion.requires_approval {
        " --approved"
    } else {
        ""
    };
    script.push_str(&format!(
        "mlops promote {} --config {config} --model-uri \"$uri\" --digest \"sha256:$digest\"{metrics}{reference} --publish{approved}\n",
        shell_quote(&promotion.deployment)
    ));
    script
}
