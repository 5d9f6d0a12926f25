//! Spec rule 10, "a file that validates renders", over every config in the repository: the
//! example, the fixtures, the fuzzer's seeds and every code page's examples. The fuzzer asserts
//! the same on arbitrary input (`fuzz/fuzz_targets/validate.rs`); this runs in CI.

use std::path::Path;

use mlops::check::AnyRepo;

fn configs(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            configs(&path, out);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            out.push((path.display().to_string(), text));
        }
    }
}

/// The YAML blocks of the code pages (`docs/codes/*.md`) and of the format reference.
fn documented(out: &mut Vec<(String, String)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs/codes"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    pages.push(root.join("docs/format.md"));
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (index, block) in text.split("```yaml\n").skip(1).enumerate() {
            let yaml = block.split("```").next().unwrap_or_default();
            out.push((format!("{}#{index}", page.display()), yaml.to_owned()));
        }
    }
}

/// Every config with one run of 1 to 3 consecutive lines deleted: the settings an emitter
/// needs go missing one by one (`gitops`, a `registry`, a `cpu`, a `model`), and each variant
/// must either fail `validate` or render.
fn without_each_run_of_lines(name: &str, text: &str, out: &mut Vec<(String, String)>) {
    let lines: Vec<&str> = text.lines().collect();
    for length in 1..=3 {
        for start in 0..lines.len().saturating_sub(length - 1) {
            let mut variant = String::new();
            for (index, line) in lines.iter().enumerate() {
                if index < start || index >= start + length {
                    variant.push_str(line);
                    variant.push('\n');
                }
            }
            out.push((
                format!("{name} without lines {}..{}", start + 1, start + length),
                variant,
            ));
        }
    }
}

#[test]
fn every_config_that_validates_renders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for dir in ["examples", "tests/fixtures", "fuzz/seeds", "templates"] {
        configs(&root.join(dir), &mut all);
    }
    documented(&mut all);
    for base in [
        "examples/churn/mlops.yaml",
        "tests/fixtures/serving/mlops.yaml",
        "templates/init.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(base)).unwrap();
        without_each_run_of_lines(base, &text, &mut all);
    }
    let templates = mlops::emit::templates::environment(None);
    let mut rendered = 0;
    for (name, text) in &all {
        let validation = mlops::validate(text.as_bytes(), &AnyRepo);
        let (true, Some(config), Some(graph)) =
            (validation.is_ok(), &validation.config, &validation.graph)
        else {
            continue;
        };
        // With and without releases for every deployment: both must render.
        let released: std::collections::BTreeMap<String, mlops::release::Release> = config
            .deployments
            .iter()
            .map(|(deployment, spec)| {
                let release = mlops::release::Release {
                    deployment: deployment.clone(),
                    environment: spec.environment.clone(),
                    training: spec.model.clone(),
                    model_uri: "s3://bucket/model".to_owned(),
                    digest: format!("sha256:{}", "a".repeat(64)),
                    commit: None,
                    metrics: std::collections::BTreeMap::new(),
                    rollback_of: None,
                    reference: None,
                };
                (deployment.clone(), release)
            })
            .collect();
        for releases in [std::collections::BTreeMap::new(), released] {
            for config_dir in ["", "ml/team"] {
                let config_path = if config_dir.is_empty() {
                    "mlops.yaml".to_owned()
                } else {
                    format!("{config_dir}/mlops.yaml")
                };
                let input = mlops::emit::EmitInput {
                    config,
                    graph,
                    config_path: &config_path,
                    config_dir,
                    templates: &templates,
                    releases: &releases,
                };
                if let Err(error) = mlops::emit::render_all(&input) {
                    panic!("{name} validates but does not render: {error}");
                }
            }
        }
        rendered += 1;
    }
    assert!(
        rendered > 20,
        "only {rendered} of {} configs validated",
        all.len()
    );
}
