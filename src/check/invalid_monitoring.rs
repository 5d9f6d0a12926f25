#![doc = include_str!("../../docs/codes/invalid-monitoring.md")]

use super::invalid_cron::check_cron;
use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;
use crate::spec::model::{Deployment, TargetKind};

/// A deployment's `logging` and `monitoring` hold together: the logs the check reads are
/// written to object storage, the reference is a data set with a table among its outputs, the
/// threshold means something for the test, the features are distinct, the schedule is a cron
/// expression, and performance rules are absolute (there is no baseline).
pub struct InvalidMonitoring;

/// The outputs of a data set that can be a reference table.
#[must_use]
pub fn reference_table(outputs: &[String]) -> Option<&str> {
    outputs
        .iter()
        .map(String::as_str)
        .find(|output| output.ends_with(".csv") || output.ends_with(".parquet"))
}

impl Rule for InvalidMonitoring {
    fn code(&self) -> Code {
        Code::InvalidMonitoring
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (name, deployment) in &cx.config.deployments {
            let at = format!("/deployments/{}", escape_pointer_token(name));
            check_logging(cx, name, deployment, &at, out);
            if deployment.monitoring.is_some() {
                check_monitoring(cx, name, deployment, &at, out);
            }
        }
    }
}

fn check_logging(
    cx: &CheckCtx<'_>,
    name: &str,
    deployment: &Deployment,
    at: &str,
    out: &mut Vec<Diag>,
) {
    let Some(logging) = &deployment.logging else {
        return;
    };
    let pointer = format!("{at}/logging");
    match (&logging.sink, &logging.store) {
        (None, None) => out.push(
            Diag::error(
                Code::InvalidMonitoring,
                format!("`logging` of deployment `{name}` says neither where to send nor where to store the predictions"),
                cx.key_label(&pointer, "no `sink` and no `store`"),
            )
            .with_help("add `store: s3://BUCKET/PATH` (what `monitoring` reads) or `sink: http://…` (a CloudEvents endpoint)"),
        ),
        (Some(_), Some(_)) => out.push(
            Diag::error(
                Code::InvalidMonitoring,
                format!("`logging` of deployment `{name}` has both `sink` and `store`; KServe's logger takes one URL"),
                cx.key_label(&format!("{pointer}/sink"), "remove this or `store`"),
            )
            .with_help("keep `store` to have `monitoring` read the logs"),
        ),
        _ => {}
    }
}

fn check_monitoring(
    cx: &CheckCtx<'_>,
    name: &str,
    deployment: &Deployment,
    at: &str,
    out: &mut Vec<Diag>,
) {
    let Some(monitoring) = &deployment.monitoring else {
        return;
    };
    let pointer = format!("{at}/monitoring");
    if deployment
        .logging
        .as_ref()
        .is_none_or(|logging| logging.store.is_none())
    {
        out.push(
            Diag::error(
                Code::InvalidMonitoring,
                format!("deployment `{name}` is monitored, but its predictions are not stored where the check can read them"),
                cx.key_label(&pointer, "reads the logs of `logging.store`"),
            )
            .with_help("add `logging: { store: s3://BUCKET/PATH }` to the deployment: KServe's logger writes each request and response there"),
        );
    }
    if let Some(store) = deployment
        .logging
        .as_ref()
        .and_then(|logging| logging.store.as_deref())
        .filter(|store| !store.starts_with("s3://"))
    {
        out.push(
            Diag::error(
                Code::InvalidMonitoring,
                format!("deployment `{name}` is monitored, but its logs are stored at `{store}`; the monitor reads S3 stores only"),
                cx.value_label(&format!("{at}/logging/store"), "not `s3://`"),
            )
            .with_help("store the logs in an S3 bucket (`s3://BUCKET/PATH`), or drop `monitoring` until GCS is supported"),
        );
    }
    if deployment.target.kind != TargetKind::Kserve {
        out.push(
            Diag::warning(
                Code::InvalidMonitoring,
                format!("deployment `{name}` is monitored, but only KServe's logger writes the logs the check reads"),
                cx.value_label(&format!("{at}/target/kind"), "not `kserve`"),
            )
            .with_help("the server must write each request and response itself, as KServe's logger does (`<id>-request.json`, `<id>-response.json`)"),
        );
    }
    if let Err(error) = check_cron(&monitoring.schedule) {
        out.push(
            Diag::error(
                Code::InvalidCron,
                format!(
                    "invalid `monitoring.schedule` of deployment `{name}`: {}",
                    error.message
                ),
                cx.substring_label(
                    &format!("{pointer}/schedule"),
                    &monitoring.schedule,
                    error.range,
                    "invalid here",
                ),
            )
            .with_help("use 5 fields, minute hour day-of-month month day-of-week, in UTC: e.g. \"0 6 * * *\" is daily at 06:00"),
        );
    }
    let reference_at = format!("{pointer}/reference");
    match cx.config.data.get(&monitoring.reference) {
        None => {
            let hint = crate::suggest::did_you_mean(
                &monitoring.reference,
                cx.config.data.keys().map(String::as_str),
            )
            .map_or_else(String::new, |close| format!(": did you mean `{close}`?"));
            out.push(
                Diag::error(
                    Code::InvalidMonitoring,
                    format!(
                        "the reference of deployment `{name}`'s monitoring, `{}`, is not a data set",
                        monitoring.reference
                    ),
                    cx.value_label(&reference_at, format!("no data set of this name{hint}")),
                )
                .with_help("name the data set the model is trained on: its CSV or Parquet output is what drift is measured against"),
            );
        }
        Some(data) if reference_table(&data.outputs).is_none() => out.push(
            Diag::error(
                Code::InvalidMonitoring,
                format!(
                    "data set `{}` has no CSV or Parquet output to measure drift against",
                    monitoring.reference
                ),
                cx.value_label(&reference_at, "no `.csv` or `.parquet` among its `outputs`"),
            )
            .with_help("list the table it writes in its `outputs` (e.g. `data/features.csv`)"),
        ),
        Some(_) => {
            // The reference is what the served model saw: data its training is built from.
            let trained_from = cx
                .graph
                .find(crate::graph::NodeKind::Training, &deployment.model)
                .zip(
                    cx.graph
                        .find(crate::graph::NodeKind::Data, &monitoring.reference),
                )
                .is_none_or(|(training, reference)| {
                    cx.graph
                        .ancestors(training, &[crate::graph::EdgeKind::Needs])
                        .contains(&reference)
                });
            if !trained_from {
                out.push(
                    Diag::error(
                        Code::InvalidMonitoring,
                        format!(
                            "`{}` is not data that training `{}` is built from, so it cannot be the reference of what `{name}` serves",
                            monitoring.reference, deployment.model
                        ),
                        cx.value_label(&reference_at, "not among the training's `needs`"),
                    )
                    .with_help(format!(
                        "name a data set in the `needs` of `{}` (or of the data it needs)",
                        deployment.model
                    )),
                );
            }
        }
    }
    let (accepted, meaning) = monitoring.drift.method.accepts(monitoring.drift.threshold);
    if !accepted {
        out.push(
            Diag::error(
                Code::InvalidMonitoring,
                format!(
                    "drift threshold {} means nothing for `{}`",
                    monitoring.drift.threshold,
                    monitoring.drift.method.as_str()
                ),
                cx.value_label(
                    &format!("{pointer}/drift/threshold"),
                    format!("must be {meaning}"),
                ),
            )
            .with_help(format!(
                "`{}` gives {meaning}",
                monitoring.drift.method.as_str()
            )),
        );
    }
    for (position, feature) in monitoring.features.iter().enumerate() {
        if monitoring.features[..position].contains(feature) {
            out.push(Diag::error(
                Code::InvalidMonitoring,
                format!("feature `{feature}` is listed twice in the monitoring of `{name}`"),
                cx.value_label(&format!("{pointer}/features/{position}"), "listed before"),
            ));
        } else if feature.trim().is_empty() || feature.contains([',', '"', '\n', '\r']) {
            out.push(Diag::error(
                Code::InvalidMonitoring,
                format!("feature `{feature}` cannot be a column of the table the check writes"),
                cx.value_label(
                    &format!("{pointer}/features/{position}"),
                    "empty, or holds `,`, `\"` or a line break",
                ),
            ));
        }
    }
    if let Some(performance) = &monitoring.performance {
        for (position, rule) in performance.rules.iter().enumerate() {
            let relative = rule
                .thresholds()
                .into_iter()
                .find(|(field, _, _)| !matches!(*field, "min" | "max"));
            if let Some((field, _, _)) = relative {
                out.push(
                    Diag::error(
                        Code::InvalidMonitoring,
                        format!("live performance has no baseline, so `{field}` cannot be judged"),
                        cx.key_label(
                            &format!("{pointer}/performance/rules/{position}/{field}"),
                            "needs a baseline",
                        ),
                    )
                    .with_help(format!(
                        "write an absolute rule: `{{ metric: {}, min: … }}` or `max: …`",
                        rule.metric
                    )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::codes::Code;

    fn diagnostics(deployment: &str) -> Vec<(Code, String)> {
        let text = format!(
            "version: 1\nproject: demo\ngitops: {{ repo_url: https://github.com/acme/demo.git }}\nenvironments:\n  production: {{ namespace: ml }}\ndata:\n  features:\n    run: python prep.py\n    outputs: [data/features.csv]\n  raw:\n    uri: s3://acme/raw/\ntraining:\n  churn:\n    needs: [features]\n    run: python train.py\n    metrics: metrics.json\n    model: {{ path: model.joblib, format: sklearn, registry: s3://acme/models }}\ngates:\n  quality:\n    training: churn\n    rules: [{{ metric: auc, min: 0.8 }}]\ndeployments:\n  churn-production:\n    model: churn\n    environment: production\n    after: [quality]\n{deployment}"
        );
        crate::validate(text.as_bytes(), &crate::check::AnyRepo)
            .diags
            .into_iter()
            .map(|diag| (diag.code, diag.message))
            .collect()
    }

    const GOOD: &str = "    target: { kind: kserve }\n    logging: { store: s3://acme-ml/inference-logs }\n    monitoring:\n      schedule: \"0 6 * * *\"\n      reference: features\n      features: [tenure, plan]\n      drift: { method: psi, threshold: 0.2 }\n";

    fn codes(deployment: &str) -> Vec<Code> {
        diagnostics(deployment)
            .into_iter()
            .map(|(code, _)| code)
            .collect()
    }

    #[test]
    fn a_complete_monitoring_section_passes() {
        assert_eq!(diagnostics(GOOD), []);
    }

    #[test]
    fn monitoring_needs_the_logs_in_object_storage() {
        let text = GOOD.replace("    logging: { store: s3://acme-ml/inference-logs }\n", "");
        let found = diagnostics(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .contains("not stored where the check can read them")
        );
        let sink = GOOD.replace(
            "store: s3://acme-ml/inference-logs",
            "sink: http://dumper.ml",
        );
        assert_eq!(codes(&sink), [Code::InvalidMonitoring]);
    }

    #[test]
    fn logging_takes_a_sink_or_a_store_not_both_nor_neither() {
        let both = GOOD.replace(
            "store: s3://acme-ml/inference-logs",
            "store: s3://acme-ml/inference-logs, sink: http://dumper.ml",
        );
        assert!(diagnostics(&both)[0].1.contains("both `sink` and `store`"));
        let neither = GOOD.replace("store: s3://acme-ml/inference-logs", "mode: all");
        let found = diagnostics(&neither);
        assert!(
            found
                .iter()
                .any(|(_, message)| message.contains("neither where to send")),
            "{found:?}"
        );
    }

    #[test]
    fn the_reference_is_a_data_set_with_a_table() {
        let unknown = GOOD.replace("reference: features", "reference: featurs");
        let found = diagnostics(&unknown);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("is not a data set"));
        let no_table = GOOD.replace("reference: features", "reference: raw");
        assert!(
            diagnostics(&no_table)[0]
                .1
                .contains("no CSV or Parquet output")
        );
    }

    #[test]
    fn the_reference_is_data_the_model_is_trained_from() {
        let text = diagnostics(GOOD).len();
        assert_eq!(text, 0);
        // `other` writes a table, but `churn` is not built from it.
        let config = GOOD.replace("reference: features", "reference: other");
        let found: Vec<String> = super::tests::with_other_data(&config);
        assert!(
            found
                .iter()
                .any(|message| message.contains("is not data that training `churn` is built from")),
            "{found:?}"
        );
    }

    fn with_other_data(deployment: &str) -> Vec<String> {
        let text = format!(
            "version: 1\nproject: demo\ngitops: {{ repo_url: https://github.com/acme/demo.git }}\nenvironments:\n  production: {{}}\ndata:\n  features:\n    run: python prep.py\n    outputs: [data/features.csv]\n  other:\n    run: python other.py\n    outputs: [data/other.csv]\ntraining:\n  churn:\n    needs: [features]\n    run: python train.py\n    metrics: metrics.json\n    model: {{ path: model.joblib, format: sklearn, registry: s3://acme/models }}\ngates:\n  quality:\n    training: churn\n    rules: [{{ metric: auc, min: 0.8 }}]\ndeployments:\n  churn-production:\n    model: churn\n    environment: production\n    after: [quality]\n{deployment}"
        );
        crate::validate(text.as_bytes(), &crate::check::AnyRepo)
            .diags
            .into_iter()
            .map(|diag| diag.message)
            .collect()
    }

    #[test]
    fn the_threshold_must_mean_something_for_the_test() {
        for (method, threshold, good) in [
            ("psi", "0.2", true),
            ("psi", "0", false),
            ("ks", "0.05", true),
            ("ks", "1.5", false),
            ("jensenshannon", "1", true),
            ("hellinger", "1.2", false),
        ] {
            let text = GOOD.replace(
                "drift: { method: psi, threshold: 0.2 }",
                &format!("drift: {{ method: {method}, threshold: {threshold} }}"),
            );
            assert_eq!(codes(&text).is_empty(), good, "{method} {threshold}");
        }
    }

    #[test]
    fn features_are_distinct_columns() {
        let twice = GOOD.replace("[tenure, plan]", "[tenure, plan, tenure]");
        let found = diagnostics(&twice);
        assert!(
            found
                .iter()
                .any(|(_, message)| message.contains("listed twice")),
            "{found:?}"
        );
        let comma = GOOD.replace("[tenure, plan]", "[tenure, \"a,b\"]");
        assert_eq!(codes(&comma), [Code::InvalidMonitoring]);
    }

    #[test]
    fn the_monitor_reads_s3_stores() {
        let gcs = GOOD.replace("s3://acme-ml/inference-logs", "gs://acme-ml/inference-logs");
        let found = diagnostics(&gcs);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("reads S3 stores only"));
    }

    #[test]
    fn the_schedule_is_checked_as_refresh_is() {
        let text = GOOD.replace("\"0 6 * * *\"", "\"0 25 * * *\"");
        assert_eq!(codes(&text), [Code::InvalidCron]);
    }

    #[test]
    fn performance_rules_are_absolute() {
        let good = format!(
            "{GOOD}      performance:\n        labels: s3://acme-ml/labels/\n        rules: [{{ metric: auc, min: 0.78 }}]\n"
        );
        assert_eq!(codes(&good), []);
        let relative = good.replace("min: 0.78", "max_drop: 0.02");
        let found = diagnostics(&relative);
        assert!(
            found
                .iter()
                .any(|(_, message)| message.contains("no baseline")),
            "{found:?}"
        );
    }

    #[test]
    fn a_plain_kubernetes_target_is_warned_about() {
        let text = GOOD.replace(
            "target: { kind: kserve }",
            "target: { kind: kubernetes, image: ghcr.io/acme/churn:1.0 }",
        );
        let found = diagnostics(&text);
        assert!(
            found
                .iter()
                .any(|(code, message)| *code == Code::InvalidMonitoring
                    && message.contains("only KServe's logger")),
            "{found:?}"
        );
    }
}
