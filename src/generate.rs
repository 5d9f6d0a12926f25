//! What `mlops render` writes and `mlops check` compares: every emitter's files and
//! `mlops.lock`, made in memory and set beside the files on disk.
//!
//! The work is split around validation, which `cli` runs: a [`Planner`] settles where the
//! files go before the config is read; [`Planner::make`] runs while the rules check the
//! config (on the other core); [`Planner::finish`] assembles the answer once the config is
//! known to be valid. Nothing here prints: warnings are returned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::emit::{self, EmitError, EmitInput};
use crate::graph::Graph;
use crate::lock::{self, PendingBlobs};
use crate::outputs::{self, OutputError, PlannedFile};
use crate::repo::DiskRepo;
use crate::spec;

/// What `render` and `check` work on: the output root, each generated file against disk, and
/// the manifests not written yet because their deployment was never promoted.
pub struct Outputs {
    /// The folder generated paths are relative to.
    pub root: PathBuf,
    /// Every generated file (the lock too), sorted by path, with its change against disk.
    pub planned: Vec<PlannedFile>,
    /// A line per environment whose manifests live on its release branch.
    pub unreleased: Vec<String>,
    /// The repository settings the GitHub workflow relies on (empty without that target).
    pub settings: Vec<String>,
    /// The project settings the GitLab pipeline relies on, kept outside YAML (empty without
    /// that target).
    pub gitlab_settings: Vec<String>,
    /// The fresh lock, and what `check` needs to explain a stale one.
    pub lock: LockContext,
}

/// A fresh `mlops.lock` with what explains a difference from the one on disk.
pub struct LockContext {
    /// The lock.
    pub lock: lock::Lock,
    /// Its path from the output root.
    pub path: String,
    /// The config it was made from.
    pub config: spec::Config,
    /// The config's folder.
    pub folder: PathBuf,
}

/// A warning for the user: what is wrong, and what to do.
pub struct Warning {
    /// The sentence after `warning: `.
    pub message: String,
    /// The sentence after `help: `.
    pub help: String,
}

/// What is made while the rules check the config ([`Planner::make`]).
pub struct Made {
    lock: lock::Lock,
    lock_compared: Result<Vec<PlannedFile>, OutputError>,
    /// Why an emitter could not render the config, if one could not.
    pub emit_error: Option<EmitError>,
    compared: Result<Vec<PlannedFile>, OutputError>,
}

/// Where the files of one config go, settled before the config is read.
pub struct Planner {
    config_folder: PathBuf,
    root: PathBuf,
    config_path: String,
    config_dir: String,
    /// The config's folder under the root.
    folder: PathBuf,
    releases: BTreeMap<String, crate::release::Release>,
    templates: minijinja::Environment<'static>,
    lock_path: String,
    owned: Vec<emit::Owned>,
}

impl Planner {
    /// The files of the config in `config_folder`, named `config_path` from `root` (the
    /// folder generated paths are relative to).
    #[must_use]
    pub fn new(config_folder: PathBuf, root: PathBuf, config_path: String) -> Planner {
        let config_dir = config_path
            .rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_owned());
        let folder = root.join(&config_dir);
        let templates = emit::templates::environment(Some(emit::templates::override_dir(&folder)));
        let lock_path = emit::rebase(&config_dir, lock::FILE_NAME);
        // The lock is this config's too, beside it.
        let mut owned = emit::owned_places();
        owned.push(emit::Owned {
            path: lock::FILE_NAME,
            at_root: false,
            file: true,
        });
        Planner {
            config_folder,
            root,
            config_path,
            config_dir,
            folder,
            // The manifests of released models live on the release branches, not here: what
            // is generated on this branch is a function of the config alone (see
            // `crate::publish`).
            releases: BTreeMap::new(),
            templates,
            lock_path,
            owned,
        }
    }

    /// The lock and the outputs, made while the rules check the config on the other core
    /// (the two take about as long at 1,000 models), each compared with the disk; used only if
    /// the config is valid. `blobs` is the blob cache being read. The tree (every file's name
    /// and digest) is dropped as soon as the lock is made: held on, it was a fifth of the peak
    /// memory at 1,000 models.
    pub fn make(
        &self,
        blobs: PendingBlobs,
        config: &spec::Config,
        graph: &Graph,
        repo: &DiskRepo,
    ) -> Made {
        // What reads no file first: git may still be listing them.
        let definitions = lock::Definitions::of(config, graph);
        let cache = blobs.wait();
        // From a cold disk git reads its index in a tenth of the time it takes to check every
        // file against it: the lock is made from the index while git checks, and the outputs
        // rendered, and the lock is made again only if git then finds an untracked file or a
        // change to a file that lock read.
        let (mut files, assumed) = match repo.index_view() {
            Some(index) => {
                let files =
                    lock::WorkingTree::assumed_as_indexed(&self.config_folder, index, cache);
                let lock = lock::compute_with(config, graph, &files, &definitions);
                (files, Some(lock))
            }
            None => (
                lock::WorkingTree::prepared(&self.config_folder, Vec::new(), None, cache),
                None,
            ),
        };
        let input = EmitInput {
            config,
            graph,
            config_path: &self.config_path,
            config_dir: &self.config_dir,
            templates: &self.templates,
            releases: &self.releases,
        };
        let rendered = emit::render_all(&input);
        // Compared with the files on disk while git may still be checking the working tree:
        // from a cold disk that reading was 4 ms after git was done. The lock, made last, is
        // compared on its own.
        let compared = match &rendered {
            Ok(artifacts) => {
                let mut made: Vec<&str> = artifacts.iter().map(|file| file.path.as_str()).collect();
                made.push(&self.lock_path);
                outputs::compare(&self.root, &self.config_path, artifacts).and_then(
                    |mut planned| {
                        planned.extend(outputs::removed(
                            &self.root,
                            &self.config_path,
                            &self.owned,
                            &made,
                        )?);
                        Ok(planned)
                    },
                )
            }
            Err(_) => Ok(Vec::new()),
        };
        let lock = match assumed {
            Some(lock)
                if repo
                    .changed_since_indexed()
                    .is_some_and(|changed| files.untouched(&changed)) =>
            {
                files.confirm();
                lock
            }
            _ => {
                files.relist(repo.files(), repo.clean_blobs());
                lock::compute_with(config, graph, &files, &definitions)
            }
        };
        drop(files);
        let lock_file = emit::Artifact {
            path: self.lock_path.clone(),
            contents: lock.to_toml(&emit::yaml_header(&input)),
        };
        let lock_compared = outputs::compare(
            &self.root,
            &self.config_path,
            std::slice::from_ref(&lock_file),
        );
        Made {
            lock,
            lock_compared,
            emit_error: rendered.err(),
            compared,
        }
    }

    /// Every generated file against disk, from what [`Planner::make`] made of the valid
    /// `config` (in `folder`), rendered without an emitter error; with the warnings to print
    /// whether or not the files could be compared.
    pub fn finish(
        self,
        config: spec::Config,
        folder: PathBuf,
        made: Made,
    ) -> (Vec<Warning>, Result<Outputs, OutputError>) {
        let mut warnings: Vec<Warning> = lock::unpinned_images(&config)
            .into_iter()
            .map(|image| Warning {
                message: format!(
                    "image `{image}` is a tag, which moves: {} cannot say what ran in it",
                    lock::FILE_NAME
                ),
                help: format!(
                    "pin it as `{image}@sha256:<digest>` (`docker buildx imagetools inspect {image}` prints the digest)"
                ),
            })
            .collect();
        let Made {
            lock,
            lock_compared,
            compared,
            ..
        } = made;
        let mut planned = match compared.and_then(|mut planned| {
            planned.extend(lock_compared?);
            Ok(planned)
        }) {
            Ok(planned) => planned,
            Err(error) => return (warnings, Err(error)),
        };
        planned.sort_by(|a, b| a.path.cmp(&b.path));
        warnings.extend(self.release_records_here(&config));
        let unreleased = self.unreleased(&config);
        let settings = if config
            .ci
            .targets
            .contains(&spec::model::CiTarget::GithubActions)
        {
            emit::github::repository_settings(&config)
        } else {
            Vec::new()
        };
        let gitlab_settings = if config.ci.targets.contains(&spec::model::CiTarget::GitlabCi) {
            let mut settings = emit::gitlab::project_settings(&config, &self.config_path);
            if !self.config_dir.is_empty() {
                settings.insert(
                    0,
                    format!(
                        "the root .gitlab-ci.yml: `include: [{{ local: {} }}]`, and its `stages:` listing check, data, train, gate, report, deploy (included files cannot set the stages of the file that includes them)",
                        emit::gitlab::pipeline_path(&self.config_dir)
                    ),
                );
            }
            settings
        } else {
            Vec::new()
        };
        (
            warnings,
            Ok(Outputs {
                root: self.root,
                planned,
                unreleased,
                settings,
                gitlab_settings,
                lock: LockContext {
                    lock,
                    path: self.lock_path,
                    config,
                    folder,
                },
            }),
        )
    }

    /// Records on this branch are from before release branches: say so rather than ignore
    /// them. Each environment's folder is listed once (at 2,000 deployments, a read of each
    /// record's path was 3.5 ms).
    fn release_records_here(&self, config: &spec::Config) -> Vec<Warning> {
        let mut warnings = Vec::new();
        let mut folders: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (name, deployment) in &config.deployments {
            let record = crate::release::path(&deployment.environment, name);
            let listed = folders
                .entry(deployment.environment.as_str())
                .or_insert_with(|| {
                    let place = Path::new(&record).parent().unwrap_or(Path::new(""));
                    std::fs::read_dir(self.folder.join(place))
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|entry| entry.file_name().to_string_lossy().into_owned())
                        .collect()
                });
            let file_name = record.rsplit('/').next().unwrap_or(&record);
            if !listed.contains(file_name) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(self.folder.join(&record)) {
                let carry = serde_json::from_str::<crate::release::Release>(&text).map_or_else(
                    |_| {
                        format!(
                            "mlops promote {name} --model-uri URI --digest sha256:HEX --publish"
                        )
                    },
                    |release| {
                        format!(
                            "mlops promote {name} --model-uri {} --digest {} --publish",
                            release.model_uri, release.digest
                        )
                    },
                );
                warnings.push(Warning {
                    message: format!(
                        "{}: release records on this branch are no longer read; releases live on `{}`",
                        emit::rebase(&self.config_dir, &record),
                        crate::publish::release_branch(config, &deployment.environment)
                    ),
                    help: format!("carry it over with `{carry}`, then delete the file"),
                });
            }
        }
        warnings
    }

    /// A line per environment with deployments: their manifests are written to its release
    /// branch by `mlops promote --publish`, not here.
    fn unreleased(&self, config: &spec::Config) -> Vec<String> {
        let mut unreleased = Vec::new();
        for environment in config.environments.keys() {
            let names: Vec<&str> = config
                .deployments
                .iter()
                .filter(|(_, deployment)| deployment.environment == *environment)
                .map(|(name, _)| name.as_str())
                .collect();
            if !names.is_empty() {
                unreleased.push(format!(
                    "{}/: {} released to branch `{}` by `mlops promote --publish`, not written here",
                    emit::rebase(&self.config_dir, &format!("deploy/{environment}")),
                    names.join(", "),
                    crate::publish::release_branch(config, environment)
                ));
            }
        }
        unreleased
    }
}
