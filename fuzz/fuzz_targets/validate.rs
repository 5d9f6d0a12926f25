//! Fuzz the whole validate pipeline (load, schema, rules, every renderer) on arbitrary bytes,
//! and, for every config that validates, the emitters: they must succeed and their output must
//! parse as YAML.
//! Seed it with the examples: `cargo +nightly fuzz run validate fuzz/seeds`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlops::check::AnyRepo;
use mlops::diag::{FileReport, SourceFile, render_github, render_human, render_json, render_sarif};

fuzz_target!(|bytes: &[u8]| {
    let validation = mlops::validate(bytes, &AnyRepo);
    let source = SourceFile::new("mlops.yaml", String::from_utf8_lossy(bytes).into_owned());
    for diag in &validation.diags {
        // Every span must lie inside the text: renderers index with them.
        assert!(diag.primary.span.start <= diag.primary.span.end && diag.primary.span.end <= bytes.len());
    }
    let _ = render_human(&source, &validation.diags, false);
    let _ = render_github(&source, &validation.diags);
    let report = [FileReport { source, diags: validation.diags.clone() }];
    let _ = render_json(&report);
    let _ = render_sarif(&report);
    if let Some(graph) = &validation.graph {
        for format in [mlops::graph::GraphFormat::Mermaid, mlops::graph::GraphFormat::Dot, mlops::graph::GraphFormat::Json] {
            let _ = graph.render(format);
        }
    }
    if let (true, Some(config), Some(graph)) = (validation.is_ok(), &validation.config, &validation.graph) {
        let templates = mlops::emit::templates::environment(None);
        let input = mlops::emit::EmitInput {
            config,
            graph,
            config_path: "mlops.yaml",
            config_dir: "",
            templates: &templates,
            releases: &std::collections::BTreeMap::new(),
        };
        // Spec rule 10: a config that validates renders, with the embedded templates, into
        // valid YAML; no setting is left for `render` to discover.
        if let Err(error) = mlops::emit::render_all(&input) {
            panic!("a valid config does not render: {error}");
        }
    }
});
