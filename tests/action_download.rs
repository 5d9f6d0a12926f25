//! The action's download path (`scripts/install-release.sh`, run by action.yml before it falls
//! back to building from source), against an HTTP server on loopback serving a release built
//! from the current tree: the archive of this build's `mlops`, its SHA-256 sums and the commit.
//! A good release is installed and runs; a wrong checksum, a missing asset and a truncated
//! archive each give a clear error and install nothing; no release, or a release of another
//! commit, means "build from source" (exit 3).

#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-release.sh");
const TARGET: &str = "x86_64-unknown-linux-musl";
const ASSET: &str = "mlops-x86_64-unknown-linux-musl.tar.gz";
/// The release of this crate's version.
const VERSION_TAG: &str = concat!("v", env!("CARGO_PKG_VERSION"));
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves the files under `root` over HTTP on loopback (404 for anything else) until the test
/// process ends. Returns the base URL.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Read the headers to their end, so that the client sees a whole exchange.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let file = root.join(path.trim_start_matches('/'));
            let response = match std::fs::read(&file) {
                Ok(body) if file.is_file() => {
                    let mut head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    head.extend(body);
                    head
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    format!("http://{address}")
}

/// The archive of this build's binary, made once for all the tests (gzip of a debug build takes
/// seconds), in cargo's scratch folder for integration tests.
fn archive() -> &'static Path {
    static ARCHIVE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("action-download");
        let staging = scratch.join("mlops-x86_64-unknown-linux-musl");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_mlops"), staging.join("mlops")).unwrap();
        let archive = scratch.join(ASSET);
        let status = Command::new("sh")
            .arg("-c")
            .arg("tar -cf - -C \"$1\" mlops-x86_64-unknown-linux-musl | gzip -1 >\"$2\"")
            .arg("sh")
            .arg(&scratch)
            .arg(&archive)
            .status()
            .unwrap();
        assert!(status.success());
        archive
    })
}

/// A release `v0.1.0` of `COMMIT` under `root`: the archive of this build's binary, the sums,
/// the commit.
fn release(root: &Path) -> PathBuf {
    let dir = root.join(VERSION_TAG);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(archive(), dir.join(ASSET)).unwrap();
    let archive = std::fs::read(dir.join(ASSET)).unwrap();
    let sum = mlops::lock::digest(&archive);
    let sum = sum.trim_start_matches("sha256:");
    std::fs::write(
        dir.join("SHA256SUMS"),
        format!(
            "{sum}  {ASSET}\n{}  mlops-aarch64-apple-darwin.tar.gz\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    std::fs::write(dir.join("COMMIT"), format!("{COMMIT}\n")).unwrap();
    dir
}

struct Install {
    code: i32,
    output: String,
    installed: Option<PathBuf>,
}

fn install(base: &str, dest: &Path, reference: &str, commit: &str) -> Install {
    let output = Command::new("bash")
        .arg(SCRIPT)
        .env("MLOPS_RELEASES", base)
        .env("MLOPS_VERSION", env!("CARGO_PKG_VERSION"))
        .env("MLOPS_REF", reference)
        .env("MLOPS_COMMIT", commit)
        .env("MLOPS_TARGET", TARGET)
        .env("MLOPS_DEST", dest)
        .output()
        .unwrap();
    let binary = dest.join("mlops");
    Install {
        code: output.status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        installed: binary.exists().then_some(binary),
    }
}

#[test]
fn a_good_release_is_installed_and_runs() {
    let root = tempfile::tempdir().unwrap();
    release(root.path());
    let base = serve(root.path().to_path_buf());
    let dest = root.path().join("bin");
    let run = install(&base, &dest, COMMIT, COMMIT);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(
        run.output.contains(&format!("from release {VERSION_TAG}"))
            && run.output.contains("SHA-256 verified"),
        "{}",
        run.output
    );
    let binary = run.installed.expect("installed");
    let version = Command::new(binary).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mlops "));
    // Used at the release's tag instead of its commit: the same release.
    let by_tag = install(&base, &root.path().join("bin2"), VERSION_TAG, "");
    assert_eq!(by_tag.code, 0, "{}", by_tag.output);
}

#[test]
fn a_wrong_checksum_is_refused_and_nothing_is_installed() {
    let root = tempfile::tempdir().unwrap();
    let dir = release(root.path());
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let (sum, rest) = sums.split_at(64);
    let flipped: String = sum
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    std::fs::write(dir.join("SHA256SUMS"), format!("{flipped}{rest}")).unwrap();
    let base = serve(root.path().to_path_buf());
    let run = install(&base, &root.path().join("bin"), COMMIT, COMMIT);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("does not match its SHA-256 sum") && run.output.contains("not run"),
        "{}",
        run.output
    );
    assert!(run.installed.is_none());
}

#[test]
fn a_truncated_archive_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = release(root.path());
    let archive = std::fs::read(dir.join(ASSET)).unwrap();
    std::fs::write(dir.join(ASSET), &archive[..archive.len() / 2]).unwrap();
    let base = serve(root.path().to_path_buf());
    let run = install(&base, &root.path().join("bin"), COMMIT, COMMIT);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("tampered or truncated"),
        "{}",
        run.output
    );
    assert!(run.installed.is_none());
}

#[test]
fn a_missing_asset_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = release(root.path());
    std::fs::remove_file(dir.join(ASSET)).unwrap();
    let base = serve(root.path().to_path_buf());
    let run = install(&base, &root.path().join("bin"), COMMIT, COMMIT);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output
            .contains(&format!("release {VERSION_TAG} has no {ASSET}")),
        "{}",
        run.output
    );
    assert!(run.installed.is_none());
    // A platform the sums do not list at all is refused too.
    let output = Command::new("bash")
        .arg(SCRIPT)
        .env("MLOPS_RELEASES", &base)
        .env("MLOPS_VERSION", env!("CARGO_PKG_VERSION"))
        .env("MLOPS_REF", COMMIT)
        .env("MLOPS_COMMIT", COMMIT)
        .env("MLOPS_TARGET", "x86_64-apple-darwin")
        .env("MLOPS_DEST", root.path().join("bin"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("lists no checksum for"));
    // And a release without sums.
    std::fs::remove_file(dir.join("SHA256SUMS")).unwrap();
    let run = install(&base, &root.path().join("bin"), COMMIT, COMMIT);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("has no SHA256SUMS"), "{}", run.output);
}

#[test]
fn no_release_for_this_ref_means_building_from_source() {
    let root = tempfile::tempdir().unwrap();
    let base = serve(root.path().to_path_buf());
    let run = install(&base, &root.path().join("bin"), COMMIT, COMMIT);
    assert_eq!(run.code, 3, "{}", run.output);
    assert!(
        run.output.contains(&format!("no release {VERSION_TAG}")),
        "{}",
        run.output
    );
    // A release of another commit (the action is ahead of its version's release).
    release(root.path());
    let other = "f".repeat(40);
    let run = install(&base, &root.path().join("bin"), &other, &other);
    assert_eq!(run.code, 3, "{}", run.output);
    assert!(
        run.output.contains(&format!("this action is at {other}")),
        "{}",
        run.output
    );
    assert!(run.installed.is_none());
}

/// The `release` step of action.yml itself (its `run:` script, with the environment GitHub
/// gives it), against the local release: it installs into ~/.cargo/bin and says so in its
/// outputs, and with no release it leaves the build from source to the next steps.
#[test]
fn the_action_step_installs_the_release_or_leaves_it_to_the_build() {
    let action =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    let start = action.find("    - id: release\n").expect("a release step");
    let run_at = start + action[start..].find("      run: |\n").unwrap() + "      run: |\n".len();
    let script: String = action[run_at..]
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with("        "))
        .map(|line| format!("{}\n", line.strip_prefix("        ").unwrap_or(line)))
        .collect();
    assert!(script.contains("install-release.sh"), "{script}");
    let root = tempfile::tempdir().unwrap();
    let base = serve(root.path().join("releases"));
    let step = |home: &Path| {
        std::fs::create_dir_all(home).unwrap();
        let outputs = home.join("outputs");
        std::fs::write(&outputs, "").unwrap();
        let status = Command::new("bash")
            .arg("-e")
            .arg("-c")
            .arg(&script)
            .env("ACTION_PATH", env!("CARGO_MANIFEST_DIR"))
            .env("ACTION_REPOSITORY", "mlops-dev/mlops")
            .env("ACTION_REF", COMMIT)
            .env("COMMIT", "")
            .env("HOME", home)
            .env("GITHUB_OUTPUT", &outputs)
            .env("MLOPS_RELEASES_URL", &base)
            .env("MLOPS_TARGET", TARGET)
            .status()
            .unwrap();
        (status.code(), std::fs::read_to_string(outputs).unwrap())
    };
    let (code, outputs) = step(&root.path().join("home-before"));
    assert_eq!(code, Some(0));
    assert_eq!(outputs, "installed=false\n", "no release: the build runs");
    release(&root.path().join("releases"));
    let home = root.path().join("home");
    let (code, outputs) = step(&home);
    assert_eq!(code, Some(0));
    assert_eq!(outputs, "installed=true\n");
    assert!(home.join(".cargo/bin/mlops").is_file());
}
