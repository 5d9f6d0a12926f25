//! Every code's page (`docs/codes/<code>.md`, printed by `mlops explain`) is a test: its
//! `## Wrong` example must raise that code and its `## Right` example must raise neither that code nor any error.

use mlops::check::{AnyRepo, Repo};
use mlops::codes::Code;

/// A checkout with no files at all, for the `missing-file` example.
struct EmptyRepo;

impl Repo for EmptyRepo {
    fn exists(&self, _path: &str) -> bool {
        false
    }
    fn matches_any(&self, _pattern: &str) -> bool {
        false
    }
}

/// A checkout whose every file exists and holds the same metrics, for `unknown-metric`.
struct MetricsRepo;

impl Repo for MetricsRepo {
    fn exists(&self, _path: &str) -> bool {
        true
    }
    fn matches_any(&self, _pattern: &str) -> bool {
        true
    }
    fn read(&self, _path: &str) -> Option<Vec<u8>> {
        Some(br#"{"recall": 0.91, "precision": 0.88}"#.to_vec())
    }
}

fn example<'a>(doc: &'a str, heading: &str) -> &'a str {
    let after = doc
        .split_once(&format!("## {heading}\n\n```yaml\n"))
        .unwrap_or_else(|| panic!("no `## {heading}` yaml block"))
        .1;
    after.split_once("```").expect("closed code block").0
}

#[test]
fn every_code_has_a_page_with_what_why_wrong_and_right() {
    for code in Code::ALL {
        let doc = code.doc();
        assert!(
            doc.starts_with(&format!("# `{}`\n", code.name())),
            "{code}: title"
        );
        for heading in ["## What it checks", "## Why", "## Wrong", "## Right"] {
            assert!(doc.contains(heading), "{code}: missing {heading}");
        }
    }
}

#[test]
fn wrong_examples_raise_their_code_and_right_examples_are_clean() {
    for &code in Code::ALL {
        let doc = code.doc();
        let repo: &dyn Repo = match code {
            Code::MissingFile => &EmptyRepo,
            Code::UnknownMetric => &MetricsRepo,
            _ => &AnyRepo,
        };
        let wrong = mlops::validate(example(doc, "Wrong").as_bytes(), repo);
        assert!(
            wrong.diags.iter().any(|diag| diag.code == code),
            "{code}: the wrong example raised {:?}",
            wrong
                .diags
                .iter()
                .map(|diag| diag.code.name())
                .collect::<Vec<_>>()
        );
        let right_repo: &dyn Repo = if code == Code::MissingFile {
            &AnyRepo
        } else {
            repo
        };
        let right = mlops::validate(example(doc, "Right").as_bytes(), right_repo);
        // Short examples may say `ungated: true`, which is a warning of its own; nothing else.
        let unexpected: Vec<_> = right
            .diags
            .iter()
            .filter(|diag| diag.code == code || diag.severity == mlops::diag::Severity::Error)
            .collect();
        assert!(
            unexpected.is_empty(),
            "{code}: the right example raised {unexpected:?}"
        );
    }
}

#[test]
fn codes_are_sorted_unique_and_found_by_name() {
    let names: Vec<&str> = Code::ALL.iter().map(|code| code.name()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
    assert_eq!(Code::from_name("mlops::cycle"), Some(Code::Cycle));
    assert_eq!(Code::from_name("nope"), None);
}
