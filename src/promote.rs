//! `mlops promote` and `mlops rollback`: a release record and the manifest derived from it,
//! for one deployment, as the files of a commit on its environment's release branch. Where
//! that commit goes is [`crate::publish`]'s business.

use std::collections::BTreeMap;

use crate::emit::{self, EmitInput};
use crate::graph::Graph;
use crate::publish::{self, Branches, File, Route};
use crate::release::{self, Release};
use crate::spec::Config;

/// A validated config, placed in its repository.
pub struct Project<'a> {
    /// The config.
    pub config: &'a Config,
    /// Its graph.
    pub graph: &'a Graph,
    /// The config's path from the repository root.
    pub config_path: &'a str,
    /// The config's folder from the repository root (`""` at the root).
    pub config_dir: &'a str,
    /// The templates it renders with.
    pub templates: &'a minijinja::Environment<'static>,
}

impl Project<'_> {
    /// Where `deployment`'s release record lives on its release branch, from the root.
    #[must_use]
    pub fn record_path(&self, environment: &str, deployment: &str) -> String {
        emit::rebase(self.config_dir, &release::path(environment, deployment))
    }

    /// The release branch of `environment`.
    #[must_use]
    pub fn branch(&self, environment: &str) -> String {
        publish::release_branch(self.config, environment)
    }

    /// Whether releases into `environment` wait for an approval.
    #[must_use]
    pub fn is_gated(&self, environment: &str) -> bool {
        self.config
            .environments
            .get(environment)
            .is_some_and(|environment| environment.requires_approval)
    }

    /// The reviewers of `environment`'s approvals, as written (users and `@org/team`).
    #[must_use]
    pub fn reviewers(&self, environment: &str) -> Vec<String> {
        let mut reviewers: Vec<String> = Vec::new();
        for approval in self.config.approvals.values() {
            if approval.environment == environment {
                for reviewer in &approval.reviewers {
                    if !reviewers.contains(reviewer) {
                        reviewers.push(reviewer.clone());
                    }
                }
            }
        }
        reviewers
    }

    /// The most approving reviews any approval of `environment` asks for.
    #[must_use]
    pub fn min_approvals(&self, environment: &str) -> u32 {
        self.config
            .approvals
            .values()
            .filter(|approval| approval.environment == environment)
            .map(|approval| approval.min_approvals)
            .max()
            .unwrap_or(1)
    }

    /// The files a release of `release.deployment` puts on its branch: the record, the
    /// manifest rendered from this config and that record, and for an approval-gated
    /// environment the branch's CODEOWNERS (`owners_now`: the one there today).
    ///
    /// # Errors
    /// A broken template override.
    pub fn files(&self, release: &Release, owners_now: Option<&str>) -> Result<Vec<File>, String> {
        let releases = BTreeMap::from([(release.deployment.clone(), release.clone())]);
        let input = EmitInput {
            config: self.config,
            graph: self.graph,
            config_path: self.config_path,
            config_dir: self.config_dir,
            templates: self.templates,
            releases: &releases,
        };
        // The deployment's manifest, and its alert rules when it has them (a release without
        // them removes the previous release's).
        let owned: Vec<String> = ["yaml", "rules.yaml"]
            .iter()
            .map(|suffix| {
                emit::rebase(
                    self.config_dir,
                    &format!(
                        "deploy/{}/{}.{suffix}",
                        release.environment, release.deployment
                    ),
                )
            })
            .collect();
        let rendered = emit::render_all(&input).map_err(|error| error.to_string())?;
        let mut files: Vec<File> = owned
            .iter()
            .filter_map(|path| {
                match rendered.iter().find(|artifact| &artifact.path == path) {
                    Some(artifact) => Some(File {
                        path: artifact.path.clone(),
                        contents: artifact.contents.clone(),
                        remove: false,
                    }),
                    // The manifest is always rendered for a release; only the rules come and go.
                    None if path.ends_with(".rules.yaml") => Some(File {
                        path: path.clone(),
                        contents: String::new(),
                        remove: true,
                    }),
                    None => None,
                }
            })
            .collect();
        files.push(File {
            path: self.record_path(&release.environment, &release.deployment),
            contents: release::to_text(release),
            remove: false,
        });
        if self.is_gated(&release.environment) {
            files.push(File {
                remove: false,
                path: publish::CODEOWNERS.to_owned(),
                contents: publish::codeowners(
                    owners_now,
                    &emit::rebase(self.config_dir, &format!("deploy/{}", release.environment)),
                    &self.reviewers(&release.environment),
                ),
            });
        }
        Ok(files)
    }

    /// The commit message of a release: its title, then what a reviewer needs.
    #[must_use]
    pub fn message(&self, release: &Release, verb: &str) -> String {
        let short = release.digest.get(..19).unwrap_or(&release.digest);
        let mut message = format!(
            "{verb} {} to {} ({short})\n\nModel: {}\nDigest: {}\n",
            release.deployment, release.environment, release.model_uri, release.digest
        );
        if let Some(commit) = &release.commit {
            message.push_str(&format!("Trained from: {commit}\n"));
        }
        if let Some(withdrawn) = &release.rollback_of {
            message.push_str(&format!("Withdraws: {withdrawn}\n"));
        }
        message
    }

    /// Where a release into `environment` goes: committed locally, pushed to the release
    /// branch, or (approval-gated, unless `approved` in CI already) pushed for review.
    #[must_use]
    pub fn route(&self, release: &Release, publish: bool, approved: bool) -> Route {
        if !publish {
            Route::Local
        } else if self.is_gated(&release.environment) && !approved {
            Route::Review(publish::promotion_branch(
                if release.rollback_of.is_some() {
                    "rollback"
                } else {
                    "promote"
                },
                &release.environment,
                &release.deployment,
                &release.digest,
            ))
        } else {
            Route::Direct
        }
    }

    /// Commit `release` on its branch and publish it by `route`.
    ///
    /// # Errors
    /// git failed, or a broken template override.
    pub fn publish(
        &self,
        branches: &Branches<'_>,
        release: &Release,
        verb: &str,
        route: Route,
    ) -> Result<publish::Published, String> {
        let files = |tip: Option<&str>| {
            let owners_now = match tip {
                Some(tip) => branches.read(tip, publish::CODEOWNERS)?,
                None => None,
            };
            self.files(release, owners_now.as_deref())
        };
        branches.publish(&publish::Change {
            branch: self.branch(&release.environment),
            message: self.message(release, verb),
            files: &files,
            route,
        })
    }

    /// The release each deployment of this config serves, from the release branches as this
    /// clone knows them (deployments never released are absent).
    ///
    /// # Errors
    /// A record there that is not a release record.
    pub fn served(&self, branches: &Branches<'_>) -> Result<BTreeMap<String, Release>, String> {
        let mut served = BTreeMap::new();
        for (name, deployment) in &self.config.deployments {
            let branch = self.branch(&deployment.environment);
            let path = self.record_path(&deployment.environment, name);
            if let Some(release) = branches.record(&branch, &path)? {
                release::verify(&release, name, &deployment.environment, &path)?;
                served.insert(name.clone(), release);
            }
        }
        Ok(served)
    }
}

impl Project<'_> {
    /// For each deployment released on a branch this clone has: how its manifest there would
    /// change at its next release under this config (its replicas, resources, canary...), as
    /// the report shows it. The manifests are not on the default branch, so this is how a pull
    /// request shows what it will change on the cluster.
    ///
    /// # Errors
    /// A record there that is not a release record, or a broken template override.
    pub fn next_release_diffs(
        &self,
        branches: &Branches<'_>,
    ) -> Result<Vec<crate::report::FileDiff>, String> {
        let mut diffs = Vec::new();
        for (name, release) in self.served(branches)? {
            let branch = self.branch(&release.environment);
            let Some(tip) = branches.tip(&branch) else {
                continue;
            };
            for file in self.files(&release, None)? {
                if file.path.ends_with(".release.json") || file.path == publish::CODEOWNERS {
                    continue;
                }
                let served = branches.read(&tip, &file.path)?.unwrap_or_default();
                if served == file.contents {
                    continue;
                }
                let diff = similar::TextDiff::from_lines(&served, &file.contents)
                    .unified_diff()
                    .context_radius(3)
                    .header(
                        &format!("a/{} ({branch})", file.path),
                        &format!("b/{} (the next release of {name})", file.path),
                    )
                    .to_string();
                // Like the report's other paths: from the config's folder.
                let shown = file
                    .path
                    .strip_prefix(&format!("{}/", self.config_dir))
                    .unwrap_or(&file.path);
                diffs.push(crate::report::FileDiff {
                    path: format!("{shown} on {branch}"),
                    diff,
                });
            }
        }
        Ok(diffs)
    }
}

/// The pull-request body of an approval-gated release.
#[must_use]
pub fn review_body(project: &Project<'_>, release: &Release, base: &str) -> String {
    let environment = &release.environment;
    let approvals = project.min_approvals(environment);
    let reviewers = project.reviewers(environment);
    let mut body = format!(
        "Releases `{}` ({}) to `{environment}`: merging this pull request into `{base}` is the \
         deployment, and Argo CD follows `{base}`.\n\n\
         It needs {approvals} approving review{}",
        release.model_uri,
        release.digest,
        if approvals == 1 { "" } else { "s" },
    );
    if reviewers.is_empty() {
        body.push_str(".\n");
    } else {
        let names: Vec<String> = reviewers
            .iter()
            .map(|reviewer| format!("`{reviewer}`"))
            .collect();
        body.push_str(&format!(
            " from {} (the branch's CODEOWNERS requests them).\n",
            names.join(", ")
        ));
    }
    if let Some(commit) = &release.commit {
        body.push_str(&format!("\nTrained from {commit}.\n"));
    }
    if let Some(withdrawn) = &release.rollback_of {
        body.push_str(&format!("\nA rollback: it withdraws {withdrawn}.\n"));
    } else {
        body.push_str(&format!(
            "\n`mlops rollback {}` returns to the release before it.\n",
            release.deployment
        ));
    }
    body
}
