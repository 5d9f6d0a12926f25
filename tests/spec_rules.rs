//! Each of the nine rules of the format (`docs/format.md`) has a failing example here, and the test
//! asserts the code and the exact 1-based line and column of the offending value (counted by
//! hand from the fixture text; column = position of the first character of the value).

use mlops::check::AnyRepo;
use mlops::diag::{Severity, SourceFile};

/// (code, line, column, severity) of every diagnostic, in report order.
fn positions(text: &str) -> Vec<(&'static str, usize, usize, Severity)> {
    let validation = mlops::validate(text.as_bytes(), &AnyRepo);
    let source = SourceFile::new("mlops.yaml", text);
    validation
        .diags
        .iter()
        .map(|diag| {
            let (line, column) = source.line_column(diag.primary.span.start);
            (diag.code.name(), line, column, diag.severity)
        })
        .collect()
}

use Severity::{Error, Warning};

/// As [`positions`], without `missing-setting`: the short pipelines here omit what only the
/// outputs need (`gitops`, `model.registry`), which that rule's own tests cover
/// (`check::render_requirements`, `tests/cli_outputs.rs`).
fn positions_of_the_rule(text: &str) -> Vec<(&'static str, usize, usize, Severity)> {
    positions(text)
        .into_iter()
        .filter(|(code, ..)| *code != "missing-setting")
        .collect()
}

#[test]
fn rule_1_duplicate_keys_unknown_fields_and_yaml_11_booleans() {
    let duplicate = "version: 1\nproject: demo\nproject: again\n";
    assert_eq!(positions(duplicate), [("duplicate-key", 3, 1, Error)]);

    let unknown = "version: 1\nproject: demo\nenvironments:\n  prod:\n    requires_aproval: true\n";
    assert_eq!(positions(unknown), [("unknown-field", 5, 5, Error)]);

    // `yes` stays the string "yes" (YAML 1.2) and is reported, not applied as `true`.
    let truthy = "version: 1\nproject: demo\nenvironments:\n  prod:\n    requires_approval: yes\n";
    assert_eq!(positions(truthy), [("wrong-type", 5, 24, Error)]);

    // A bare `no` (Norway) as a name stays a string and is a valid name.
    let norway = "version: 1\nproject: demo\nenvironments:\n  no: {}\n";
    assert_eq!(positions(norway), []);
}

#[test]
fn rule_2_names_match_the_pattern_and_are_unique_across_sections() {
    let text = "version: 1\nproject: demo\ndata:\n  Raw_Events:\n    uri: s3://x/\n  churn:\n    uri: s3://y/\ntraining:\n  churn:\n    run: python train.py\n";
    assert_eq!(
        positions(text),
        [
            ("invalid-name", 4, 3, Error),
            ("duplicate-name", 9, 3, Error)
        ]
    );
}

#[test]
fn rule_3_references_exist_and_have_an_allowed_kind() {
    let text = "\
version: 1
project: demo
data:
  features:
    run: python f.py
training:
  churn:
    needs: [featurs]
    run: python train.py
gates:
  q:
    training: features
    rules: [{ metric: auc, min: 0.8 }]
";
    assert_eq!(
        positions(text),
        [
            ("unknown-ref", 8, 13, Error),
            ("wrong-ref-kind", 12, 15, Error)
        ]
    );
}

#[test]
fn rule_4_cycles_are_reported_with_every_hop() {
    let text = "\
version: 1
project: demo
data:
  a:
    needs: [c]
    run: x
  b:
    needs: [a]
    run: x
  c:
    needs: [b]
    run: x
";
    let validation = mlops::validate(text.as_bytes(), &AnyRepo);
    assert_eq!(positions(text), [("cycle", 5, 13, Error)]);
    let cycle = &validation.diags[0];
    assert_eq!(cycle.message, "dependency cycle: a -> c -> b -> a");
    let source = SourceFile::new("mlops.yaml", text);
    let hops: Vec<(usize, usize, &str)> = std::iter::once(&cycle.primary)
        .chain(&cycle.related)
        .map(|label| {
            let (line, column) = source.line_column(label.span.start);
            (line, column, label.text.as_str())
        })
        .collect();
    assert_eq!(
        hops,
        [
            (5, 13, "`a` needs `c`"),
            (11, 13, "`c` needs `b`"),
            (8, 13, "`b` needs `a`")
        ]
    );
}

const PIPELINE_HEAD: &str = "\
version: 1
project: demo
environments:
  staging: {}
  production:
    requires_approval: true
training:
  churn:
    run: python train.py
gates:
  q:
    training: churn
    rules: [{ metric: auc, min: 0.8 }]
";

#[test]
fn rule_5_approval_gated_environments_need_an_approval_in_after() {
    let text = format!(
        "{PIPELINE_HEAD}deployments:
  s:
    model: churn
    environment: staging
    after: [q]
    target: {{ kind: kserve }}
  p:
    model: churn
    environment: production
    after: [s]
    target: {{ kind: kserve }}
"
    );
    // Line 22 is `environment: production` of `p`.
    assert_eq!(
        positions_of_the_rule(&text),
        [("missing-approval", 22, 18, Error)]
    );
}

#[test]
fn rule_6_promotion_order_follows_the_environments() {
    let text = format!(
        "{PIPELINE_HEAD}approvals:
  ok:
    environment: production
    reviewers: [alice]
deployments:
  p:
    model: churn
    environment: production
    after: [q, ok]
    target: {{ kind: kserve }}
"
    );
    assert_eq!(
        positions_of_the_rule(&text),
        [("promotion-order", 21, 18, Error)]
    );
}

#[test]
fn rule_7_shipped_models_are_gated_or_explicitly_ungated() {
    let gateless = "\
version: 1
project: demo
environments:
  staging: {}
training:
  churn:
    run: python train.py
deployments:
  s:
    model: churn
    environment: staging
    target: { kind: kserve }
";
    assert_eq!(
        positions_of_the_rule(gateless),
        [("ungated-deployment", 10, 12, Error)]
    );
    let explicit = gateless.replace("    target:", "    ungated: true\n    target:");
    assert_eq!(
        positions_of_the_rule(&explicit),
        [("ungated-deployment", 12, 14, Warning)]
    );
}

#[test]
fn rule_8_cron_digest_numbers_ranges_and_directions() {
    let text = "\
version: 1
project: demo
data:
  events:
    uri: s3://x/
    sha256: 9f86d08188
    refresh: \"0 3 * * 8\"
training:
  churn:
    run: python train.py
gates:
  q:
    training: churn
    rules:
      - { metric: auc, min: high }
      - { metric: f1, max_drop_pct: 120 }
      - { metric: loss, max_rise_pct: -1 }
      - { metric: loss, max_drop: 0.1 }
";
    // A value of the wrong type stops the typed model, so only the schema's findings come back
    // (and `rules_ran` is false, which the human report states).
    assert_eq!(
        positions(text),
        [
            ("wrong-type", 15, 29, Error),
            ("invalid-value", 16, 37, Error),
            ("invalid-value", 17, 39, Error)
        ]
    );
    assert!(!mlops::validate(text.as_bytes(), &AnyRepo).rules_ran);
    // With the type error fixed the semantic rules run, and the direction clash shows.
    let fixed = text
        .replace("min: high", "min: 0.8")
        .replace("max_drop_pct: 120", "max_drop_pct: 2")
        .replace("max_rise_pct: -1", "max_rise_pct: 1");
    assert_eq!(
        positions(&fixed),
        [
            ("invalid-digest", 6, 13, Error),
            ("invalid-cron", 7, 23, Error),
            ("conflicting-direction", 18, 25, Warning)
        ]
    );
}

#[test]
fn rule_9_credentials_are_never_written() {
    let text = "\
version: 1
project: demo
training:
  churn:
    run: aws s3 cp --key AKIAIOSFODNN7EXAMPLE s3://x/ .
    # token: ghp_abcdefghijklmnopqrstuvwxyz0123456789
";
    assert_eq!(
        positions(text),
        [
            ("credential-literal", 5, 26, Error),
            ("credential-literal", 6, 14, Error)
        ]
    );
}

#[test]
fn the_spec_example_is_valid() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/churn/mlops.yaml"
    ))
    .unwrap();
    assert_eq!(positions(&text), []);
}

const TYPO_IN_AFTER: &str = "\
version: 1
project: demo
environments:
  staging: {}
  production:
    requires_approval: true
training:
  fraud:
    run: python train.py
gates:
  fraud-quality:
    training: fraud
    rules: [{ metric: auc, min: 0.8 }]
approvals:
  ok:
    environment: production
    reviewers: [alice]
deployments:
  fraud-staging:
    model: fraud
    environment: staging
    after: [fraud-qualty]
    target: { kind: kserve }
  fraud-production:
    model: fraud
    environment: production
    after: [fraud-staging, ok]
    target: { kind: kserve }
";

/// Regression: one typo in `after` gave three errors, two of them follow-ons (ungated
/// deployments) placed before their cause, one with a wrong fix. Follow-ons of an unresolved
/// reference are suppressed, as rustc does.
#[test]
fn a_typo_in_after_is_one_error_at_the_typo() {
    assert_eq!(
        positions_of_the_rule(TYPO_IN_AFTER),
        [("unknown-ref", 22, 13, Error)]
    );
    let validation = mlops::validate(TYPO_IN_AFTER.as_bytes(), &AnyRepo);
    let typo = validation
        .diags
        .iter()
        .find(|diag| diag.code.name() == "unknown-ref")
        .unwrap();
    assert_eq!(typo.help.as_deref(), Some("did you mean `fraud-quality`?"));
}

/// The same chain with the cause fixed reports what it should: suppression is not blanket.
#[test]
fn without_the_typo_the_chain_is_checked_again() {
    let dropped = TYPO_IN_AFTER.replace("    after: [fraud-qualty]\n", "");
    assert_eq!(
        positions_of_the_rule(&dropped),
        [
            ("ungated-deployment", 20, 12, Error),
            ("ungated-deployment", 24, 12, Error)
        ]
    );
}

#[test]
fn after_naming_a_training_suggests_its_gate() {
    let text = TYPO_IN_AFTER.replace("after: [fraud-qualty]", "after: [fraud]");
    let validation = mlops::validate(text.as_bytes(), &AnyRepo);
    let codes: Vec<&str> = validation
        .diags
        .iter()
        .filter(|diag| diag.code.name() != "missing-setting")
        .map(|diag| diag.code.name())
        .collect();
    assert_eq!(codes, ["wrong-ref-kind"]);
    let help = validation
        .diags
        .iter()
        .find(|d| d.code.name() == "wrong-ref-kind")
        .unwrap();
    assert!(
        help.help
            .as_deref()
            .unwrap()
            .ends_with("to wait for the gate that judges `fraud`, write `fraud-quality`"),
        "{:?}",
        help.help
    );
}

/// Regression: a mapping where the field also takes another shape (an optional section such as
/// `gitops`, or `params: FILE | { file, keys }`) reported only "has the wrong shape"; it now
/// names the unknown or missing field, as any other mapping does.
#[test]
fn rule_1_unknown_and_missing_fields_inside_optional_and_either_shaped_mappings() {
    let gitops = "version: 1\nproject: demo\ngitops:\n  repo_url: https://github.com/a/b.git\n  revison: mlops/release\n";
    assert_eq!(
        positions_of_the_rule(gitops),
        [("unknown-field", 5, 3, Error)]
    );
    let validation = mlops::validate(gitops.as_bytes(), &AnyRepo);
    assert_eq!(
        validation.diags[0].help.as_deref(),
        Some("known fields here: repo_url, release_branch, argocd_namespace, project")
    );
    let keys = "version: 1\nproject: demo\ntraining:\n  m:\n    run: x\n    params: { file: p.yaml, kes: [a] }\n";
    assert_eq!(
        positions_of_the_rule(keys),
        [("unknown-field", 6, 29, Error)]
    );
    let no_file =
        "version: 1\nproject: demo\ntraining:\n  m:\n    run: x\n    params: { keys: [a] }\n";
    assert_eq!(
        positions_of_the_rule(no_file),
        [("missing-field", 6, 5, Error)]
    );
}
