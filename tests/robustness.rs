//! Hostile and broken input: every case ends in a clear diagnostic, never a panic or a hang.

use mlops::check::AnyRepo;
use mlops::codes::Code;

fn codes_and_messages(bytes: &[u8]) -> Vec<(Code, String)> {
    mlops::validate(bytes, &AnyRepo)
        .diags
        .into_iter()
        .map(|diag| (diag.code, diag.message))
        .collect()
}

fn single(bytes: &[u8]) -> (Code, String) {
    let mut all = codes_and_messages(bytes);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn empty_and_blank_files() {
    assert_eq!(
        single(b""),
        (Code::InvalidInput, "file is empty".to_owned())
    );
    assert_eq!(
        single(b"  \n\n\t\n"),
        (Code::InvalidInput, "file is empty".to_owned())
    );
    assert_eq!(
        single(b"# only a comment\n"),
        (Code::InvalidInput, "file holds no YAML document".to_owned())
    );
}

#[test]
fn non_utf8_bytes_name_the_offset() {
    assert_eq!(
        single(b"version: 1\nproject: \xff\xfe\n"),
        (
            Code::InvalidInput,
            "file is not valid UTF-8 (byte 20)".to_owned()
        )
    );
}

#[test]
fn deep_flow_nesting_is_refused_before_parsing() {
    let deep = format!(
        "version: 1\nproject: {}{}\n",
        "[".repeat(1_000_000),
        "]".repeat(1_000_000)
    );
    let (code, message) = single(deep.as_bytes());
    assert_eq!(code, Code::InvalidInput);
    assert!(message.contains("nesting is deeper"), "{message}");
}

#[test]
fn deep_block_nesting_is_refused() {
    let mut deep = String::from("version: 1\nproject: demo\nx:\n");
    for level in 1..200 {
        deep.push_str(&" ".repeat(level));
        deep.push_str("- \n");
    }
    let all = codes_and_messages(deep.as_bytes());
    assert!(
        all.iter()
            .any(|(code, _)| *code == Code::InvalidInput || *code == Code::UnknownField),
        "{all:?}"
    );
    let dashes = format!("version: 1\nproject: demo\nx: \n{}\n", "- ".repeat(100_000));
    let (code, message) = single(dashes.as_bytes());
    assert_eq!(code, Code::InvalidInput, "{message}");
}

#[test]
fn alias_bombs_stop_at_the_node_budget() {
    let bomb = "\
version: 1
project: demo
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
";
    let (code, message) = single(bomb.as_bytes());
    assert_eq!(code, Code::InvalidInput);
    assert!(message.contains("aliases expand to more than"), "{message}");
}

#[test]
fn a_50_mb_file_is_refused_by_size() {
    let huge = vec![b'#'; 50 * 1024 * 1024];
    let (code, message) = single(&huge);
    assert_eq!(code, Code::InvalidInput);
    assert!(
        message.starts_with("file is 52428800 bytes; the limit is"),
        "{message}"
    );
}

#[test]
fn yaml_features_outside_the_format() {
    let all = codes_and_messages(b"version: 1\nproject: demo\n---\nversion: 1\n");
    assert_eq!(
        all,
        [(
            Code::UnsupportedYaml,
            "more than one YAML document in the file".to_owned()
        )]
    );
    let tagged = codes_and_messages(b"version: 1\nproject: !custom demo\n");
    assert!(
        tagged
            .iter()
            .any(|(code, _)| *code == Code::UnsupportedYaml),
        "{tagged:?}"
    );
    let keyed = codes_and_messages(b"version: 1\nproject: demo\n1: x\n");
    assert_eq!(
        keyed,
        [(
            Code::UnsupportedYaml,
            "mapping key `1` is not a string".to_owned()
        )]
    );
    let infinite =
        codes_and_messages(b"version: 1\nproject: demo\ndefaults: { timeout_minutes: .inf }\n");
    assert!(
        infinite
            .iter()
            .any(|(code, _)| *code == Code::UnsupportedYaml),
        "{infinite:?}"
    );
}

#[test]
fn the_top_level_must_be_a_mapping() {
    for text in ["- a\n- b\n", "just a string\n", "42\n", "null\n"] {
        let all = codes_and_messages(text.as_bytes());
        assert!(
            all.iter().any(|(code, _)| *code == Code::WrongType),
            "{text}: {all:?}"
        );
    }
}

#[test]
fn binary_junk_is_a_syntax_or_input_error() {
    let junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let all = codes_and_messages(&junk);
    assert!(!all.is_empty());
}

#[test]
fn spans_stay_inside_the_text_for_non_ascii_input() {
    let text = "version: 1\nproject: démo-ü\ndata:\n  événements:\n    uri: s3://x/\n";
    let validation = mlops::validate(text.as_bytes(), &AnyRepo);
    let name = &validation.diags[0];
    assert_eq!(name.code, Code::InvalidName);
    assert_eq!(&text[name.primary.span.clone()], "événements");
}

/// miette pads to a label's column with a format width, which panics past 65,535: a problem far
/// right on a long line is reported by position instead, without the line.
#[test]
fn problems_far_right_on_a_long_line_are_reported_by_position() {
    let padding = " ".repeat(70_000);
    let cases = [
        // A schema error: an unknown field at column 70,027 of a flow mapping.
        format!("{{version: 1, project: demo, {padding}projekt: x}}\n"),
        // A syntax error past column 100,000 (an implicit key longer than YAML allows).
        format!("version: 1\nproject: demo\n{}: 1\n", "a".repeat(100_000)),
    ];
    for text in cases {
        let validation = mlops::validate(text.as_bytes(), &AnyRepo);
        assert!(!validation.diags.is_empty());
        let source = mlops::diag::SourceFile::new("long.yaml", text.clone());
        let report = mlops::diag::render_human(&source, &validation.diags, false);
        let (line, column) = source.line_column(validation.diags[0].primary.span.start);
        assert!(column > 65_535, "{column}");
        assert!(
            report.contains(&format!(
                "at long.yaml:{line}:{column} (the line is too long to show)"
            )),
            "{report}"
        );
        assert!(report.len() < 2_000, "the long line is not printed");
    }
}

/// Pointers are indexed segment by segment: a long key over many items is stored once, not once
/// per item (a 7 MB file of this shape used to need terabytes for its span index).
#[test]
fn a_long_key_over_many_items_is_indexed_once() {
    let key = "k".repeat(100_000);
    let items = vec!["1"; 100_000].join(",");
    let text = format!("version: 1\nproject: demo\n? {key}\n: [{items}]\n");
    let validation = mlops::validate(text.as_bytes(), &AnyRepo);
    let spans = validation.spans.expect("the YAML is readable");
    let last = spans
        .get(&format!("/{key}/99999"))
        .expect("the last item is indexed");
    assert_eq!(&text[last.value], "1");
    assert!(
        validation
            .diags
            .iter()
            .any(|diag| diag.code == Code::UnknownField)
    );
}
