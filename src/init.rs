//! `mlops init`: the commented starter config.

/// The starter `mlops.yaml`; `tests/cli.rs` checks that it validates.
pub const STARTER: &str = include_str!("../templates/init.yaml");
