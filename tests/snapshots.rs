//! Golden files of what a user sees: the human report (no colour, fixed width) and the JSON
//! report of every file in `tests/fixtures/bad/`. Review changes with `cargo insta review`.

use mlops::diag::{SourceFile, render_human, render_json};

#[test]
fn bad_files() {
    insta::glob!("fixtures/bad/*.yaml", |path| {
        let bytes = std::fs::read(path).unwrap();
        let validation = mlops::validate(&bytes, &mlops::check::AnyRepo);
        assert!(!validation.is_ok(), "{} should be invalid", path.display());
        let name = format!(
            "tests/fixtures/bad/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let source = SourceFile::new(name, String::from_utf8_lossy(&bytes).into_owned());
        insta::assert_snapshot!("human", render_human(&source, &validation.diags, false));
        let report = mlops::diag::FileReport {
            source,
            diags: validation.diags,
        };
        insta::assert_snapshot!("json", render_json(std::slice::from_ref(&report)));
    });
}
