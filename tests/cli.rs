//! The command line, as a user runs it: every command and every exit code (0 ok, 1 invalid,
//! 2 usage or I/O), asserting on what is printed, not on the exit code alone.

use std::path::Path;

use assert_cmd::Command;

fn mlops() -> Command {
    let mut command = Command::cargo_bin("mlops").unwrap();
    command.env_remove("NO_COLOR").env("COLUMNS", "100");
    command
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/churn/mlops.yaml");
const BAD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bad/typos.yaml");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Run {
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[test]
fn validate_a_valid_file_exits_0() {
    let result = run(mlops().args(["validate", EXAMPLE]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stderr.ends_with("mlops.yaml: valid\n"),
        "{}",
        result.stderr
    );
    assert_eq!(result.stdout, "");
}

#[test]
fn validate_defaults_to_mlops_yaml_in_the_working_directory() {
    let result = run(mlops()
        .arg("validate")
        .current_dir(Path::new(EXAMPLE).parent().unwrap()));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.stderr, "mlops.yaml: valid\n");
    let folder = run(mlops().args([
        "validate",
        Path::new(EXAMPLE).parent().unwrap().to_str().unwrap(),
    ]));
    assert_eq!(folder.code, 0, "{}", folder.stderr);
}

#[test]
fn validate_an_invalid_file_exits_1_with_every_problem() {
    let result = run(mlops().args(["validate", BAD, "--color", "never"]));
    assert_eq!(result.code, 1);
    assert!(
        result.stderr.contains("unknown field `enviroments`"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("did you mean `model`?"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("did you mean `kserve`?"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("typos.yaml: 3 errors"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("semantic rules"),
        "a type error says the rules did not run: {}",
        result.stderr
    );
    assert!(
        !result.stderr.contains('\u{1b}'),
        "no colour codes without a terminal"
    );
}

#[test]
fn validate_missing_file_or_bad_usage_exits_2() {
    let missing = run(mlops().args(["validate", "/nonexistent/mlops.yaml"]));
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("cannot read `/nonexistent/mlops.yaml`: no such file"),
        "{}",
        missing.stderr
    );
    let bad_flag = run(mlops().args(["validate", "--format", "xml", EXAMPLE]));
    assert_eq!(bad_flag.code, 2);
    assert!(
        bad_flag.stderr.contains("invalid value 'xml'"),
        "{}",
        bad_flag.stderr
    );
    let no_command = run(&mut mlops());
    assert_eq!(no_command.code, 2);
    let unknown = run(mlops().arg("frobnicate"));
    assert_eq!(unknown.code, 2);
}

#[test]
fn colour_is_used_only_when_asked_and_not_under_no_color() {
    let forced = run(mlops().args(["validate", BAD, "--color", "always"]));
    assert!(forced.stderr.contains('\u{1b}'));
    let plain = run(mlops().args(["validate", BAD]).env("NO_COLOR", "1"));
    assert!(!plain.stderr.contains('\u{1b}'));
}

#[test]
fn validate_json_is_one_document_on_stdout() {
    let result = run(mlops().args(["validate", BAD, "--format", "json"]));
    assert_eq!(result.code, 1);
    let report: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let first = &report["diagnostics"][0];
    assert_eq!(first["code"], "unknown-field");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["line"], 3);
    assert_eq!(first["column"], 1);
    assert_eq!(first["help"], "did you mean `environments`?");
    assert!(first["file"].as_str().unwrap().ends_with("typos.yaml"));
    assert_eq!(result.stderr, "");
    let valid = run(mlops().args(["validate", EXAMPLE, "--format", "json"]));
    assert_eq!(
        (valid.code, valid.stdout.as_str()),
        (0, "{\n  \"diagnostics\": []\n}\n")
    );
}

#[test]
fn validate_github_prints_workflow_commands() {
    let result = run(mlops().args(["validate", BAD, "--format", "github"]));
    assert_eq!(result.code, 1);
    let first = result.stdout.lines().next().unwrap();
    assert!(first.starts_with("::error file="), "{first}");
    assert!(first.contains("typos.yaml,line=3,col=1,endColumn=12,title=mlops%3A%3Aunknown-field::unknown field: unknown field `enviroments`"), "{first}");
    assert!(
        first.contains("%0Ahelp: did you mean `environments`?"),
        "{first}"
    );
    assert_eq!(result.stdout.lines().count(), 3);
}

#[test]
fn validate_sarif_matches_the_sarif_2_1_0_schema() {
    let result = run(mlops().args(["validate", BAD, "--format", "sarif"]));
    assert_eq!(result.code, 1);
    let log: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let schema_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/vendor/external-schemas/sarif-2.1.0.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let result_zero = &log["runs"][0]["results"][0];
    assert_eq!(result_zero["ruleId"], "unknown-field");
    assert_eq!(
        result_zero["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
}

#[test]
fn validate_gitlab_is_a_code_quality_report() {
    let result = run(mlops().args(["validate", BAD, "--format", "gitlab"]));
    assert_eq!(result.code, 1);
    let issues: Vec<serde_json::Value> = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(issues.len(), 3, "{}", result.stdout);
    // The fields GitLab's widget requires, on every issue.
    for issue in &issues {
        for field in ["description", "check_name", "fingerprint", "severity"] {
            assert!(issue[field].is_string(), "{field} in {issue}");
        }
        assert!(
            issue["location"]["path"]
                .as_str()
                .unwrap()
                .ends_with("typos.yaml")
        );
        assert!(issue["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
        assert_eq!(issue["fingerprint"].as_str().unwrap().len(), 64);
    }
    let first = &issues[0];
    assert_eq!(first["check_name"], "unknown-field");
    assert_eq!(first["severity"], "major");
    assert_eq!(first["location"]["lines"]["begin"], 3);
    let description = first["description"].as_str().unwrap();
    assert!(
        description.starts_with("unknown field: unknown field `enviroments`")
            && description.ends_with(" (help: did you mean `environments`?)"),
        "{first}"
    );
    let mut fingerprints: Vec<&str> = issues
        .iter()
        .map(|issue| issue["fingerprint"].as_str().unwrap())
        .collect();
    fingerprints.sort_unstable();
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 3, "fingerprints are unique");
    // A line added above moves the problem, not its fingerprint.
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("typos.yaml");
    std::fs::write(
        &moved,
        format!("# a comment\n{}", std::fs::read_to_string(BAD).unwrap()),
    )
    .unwrap();
    let again =
        run(mlops()
            .current_dir(dir.path())
            .args(["validate", "typos.yaml", "--format", "gitlab"]));
    let moved: Vec<serde_json::Value> = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(moved[0]["location"]["lines"]["begin"], 4);
    assert_eq!(moved[0]["location"]["path"], "typos.yaml");
    // Same path, same problem: the path is part of the fingerprint, so compare with one
    // rendered under the same name.
    let same_place = dir.path().join("sub");
    std::fs::create_dir(&same_place).unwrap();
    std::fs::copy(BAD, same_place.join("typos.yaml")).unwrap();
    let unmoved = run(mlops().current_dir(&same_place).args([
        "validate",
        "typos.yaml",
        "--format",
        "gitlab",
    ]));
    let unmoved: Vec<serde_json::Value> = serde_json::from_str(&unmoved.stdout).unwrap();
    assert_eq!(unmoved[0]["location"]["lines"]["begin"], 3);
    assert_eq!(moved[0]["fingerprint"], unmoved[0]["fingerprint"]);
    // A valid config: an empty report, exit 0.
    let good = run(mlops().args([
        "validate",
        "examples/churn/mlops.yaml",
        "--format",
        "gitlab",
    ]));
    assert_eq!((good.code, good.stdout.trim()), (0, "[]"));
}

#[test]
fn explain_prints_a_code_page_and_lists_codes() {
    let page = run(mlops().args(["explain", "unknown-ref"]));
    assert_eq!(page.code, 0);
    assert!(page.stdout.starts_with("# `unknown-ref`"));
    assert!(page.stdout.contains("## Wrong") && page.stdout.contains("## Right"));
    let prefixed = run(mlops().args(["explain", "mlops::cycle"]));
    assert_eq!(prefixed.code, 0);
    let list = run(mlops().arg("explain"));
    assert_eq!(list.code, 0);
    assert!(list.stdout.contains("promotion-order"));
    let unknown = run(mlops().args(["explain", "unknown-rf"]));
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("did you mean `unknown-ref`?"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn schema_prints_the_committed_schema() {
    let result = run(mlops().arg("schema"));
    assert_eq!(result.code, 0);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/mlops.schema.json"
    ))
    .unwrap();
    assert!(
        result.stdout == committed,
        "schemas/mlops.schema.json is stale: run `cargo run -- schema > schemas/mlops.schema.json`"
    );
}

#[test]
fn graph_prints_mermaid_dot_and_json() {
    let mermaid = run(mlops().args(["graph", EXAMPLE]));
    assert_eq!(mermaid.code, 0, "{}", mermaid.stderr);
    insta::assert_snapshot!("graph_mermaid", mermaid.stdout);
    let dot = run(mlops().args(["graph", EXAMPLE, "--format", "dot"]));
    assert_eq!(dot.code, 0);
    insta::assert_snapshot!("graph_dot", dot.stdout);
    let json = run(mlops().args(["graph", EXAMPLE, "--format", "json"]));
    assert_eq!(json.code, 0);
    let graph: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        graph["order"],
        serde_json::json!([
            "data:events",
            "data:features",
            "training:churn",
            "gates:churn-quality",
            "approvals:prod-signoff",
            "deployments:churn-staging",
            "deployments:churn-production"
        ])
    );
    insta::assert_snapshot!("graph_json", json.stdout);
}

#[test]
fn graph_of_an_invalid_file_exits_1() {
    let result = run(mlops().args(["graph", BAD]));
    assert_eq!(result.code, 1);
    assert_eq!(result.stdout, "");
    assert!(
        result
            .stderr
            .contains("is not valid; fix it before drawing its graph"),
        "{}",
        result.stderr
    );
}

#[test]
fn init_writes_a_starter_that_validates_and_never_overwrites() {
    let folder = tempfile::tempdir().unwrap();
    let first = run(mlops().arg("init").current_dir(folder.path()));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(folder.path().join(".mlops/mlops.schema.json").exists());
    let starter = std::fs::read_to_string(folder.path().join("mlops.yaml")).unwrap();
    assert!(starter.starts_with("# yaml-language-server: $schema=.mlops/mlops.schema.json"));
    // The starter names files a new project does not have yet: warnings, not errors.
    let check = run(mlops()
        .args(["validate", "--format", "json"])
        .current_dir(folder.path()));
    assert_eq!(check.code, 0, "{}", check.stdout);
    let report: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    assert!(
        report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|diag| diag["code"] == "missing-file"),
        "{report}"
    );
    // What validates renders (spec rule 10): `init` -> `validate` -> `render` -> `check`.
    let render = run(mlops().arg("render").current_dir(folder.path()));
    assert_eq!(render.code, 0, "{}", render.stderr);
    assert!(folder.path().join(".github/workflows/mlops.yml").exists());
    let fresh = run(mlops().arg("check").current_dir(folder.path()));
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);

    std::fs::write(folder.path().join("mlops.yaml"), "mine\n").unwrap();
    let again = run(mlops().arg("init").current_dir(folder.path()));
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already exists; pass --force"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(folder.path().join("mlops.yaml")).unwrap(),
        "mine\n"
    );
    let forced = run(mlops().args(["init", "--force"]).current_dir(folder.path()));
    assert_eq!(forced.code, 0);
    assert_eq!(
        std::fs::read_to_string(folder.path().join("mlops.yaml")).unwrap(),
        starter
    );
}

#[test]
fn version_and_help_exit_0() {
    let version = run(mlops().arg("--version"));
    assert_eq!(
        (version.code, version.stdout.as_str()),
        (
            0,
            format!("mlops {}\n", mlops::build_info::VERSION).as_str()
        )
    );
    let help = run(mlops().arg("--help"));
    assert_eq!(help.code, 0);
    for command in ["validate", "explain", "schema", "graph", "init"] {
        assert!(
            help.stdout.contains(command),
            "{command} missing from --help"
        );
    }
}

/// The layering rule "`cli` only parses and dispatches" has a mirror: nothing but `cli` knows
/// the argument parser, so the stages stay usable as a library.
#[test]
fn only_the_cli_module_knows_clap() {
    let mut folders = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    let mut offenders = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs")
                && path.file_name().is_some_and(|name| name != "cli.rs")
                && std::fs::read_to_string(&path).unwrap().contains("clap::")
            {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}

/// Every subcommand, as the completion scripts and the man page must list them.
const SUBCOMMANDS: &[&str] = &[
    "validate",
    "render",
    "check",
    "affected",
    "gate",
    "report",
    "promote",
    "rollback",
    "explain",
    "schema",
    "completions",
    "man",
];

/// The bash script, sourced into a real bash, completes `mlops val` to `validate` and
/// `mlops affected --for` to `--format`; every shell's script names every subcommand.
#[test]
fn completions_complete_in_a_real_bash_and_name_every_subcommand() {
    let script = run(mlops().args(["completions", "bash"]));
    assert_eq!(script.code, 0, "{}", script.stderr);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlops.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let complete = |words: &str| {
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); _mlops mlops \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                path.display()
            ))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(complete("mlops val"), "validate\n");
    assert!(complete("mlops affected --for").contains("--format"));
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = run(mlops().args(["completions", shell]));
        assert_eq!(script.code, 0, "{shell}: {}", script.stderr);
        for subcommand in SUBCOMMANDS {
            assert!(
                script.stdout.contains(subcommand),
                "{shell} lacks {subcommand}"
            );
        }
    }
    let unknown = run(mlops().args(["completions", "tcsh"]));
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("possible values: bash"),
        "{}",
        unknown.stderr
    );
}

/// The man page is roff that groff formats without a warning, naming the build and every
/// subcommand.
#[test]
fn the_man_page_formats_and_names_every_subcommand() {
    let page = run(mlops().arg("man"));
    assert_eq!(page.code, 0, "{}", page.stderr);
    assert!(page.stdout.contains(".TH mlops 1"), "{}", page.stdout);
    assert!(page.stdout.contains(mlops::build_info::VERSION));
    for subcommand in SUBCOMMANDS {
        assert!(
            page.stdout.contains(subcommand),
            "the man page lacks {subcommand}"
        );
    }
    let groff = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    // groff is not on every machine; where it is, it must accept the page silently.
    if let Ok(mut groff) = groff {
        use std::io::Write as _;
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(page.stdout.as_bytes())
            .unwrap();
        let output = groff.wait_with_output().unwrap();
        assert!(output.status.success());
        assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    }
}
