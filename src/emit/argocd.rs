//! Argo CD: `deploy/argocd/<environment>.yaml`, one `Application` per environment that has
//! deployments, following `deploy/<environment>` on the environment's release branch
//! (`mlops/release/<environment>`, written by `mlops promote --publish` alone: see
//! [`crate::publish`]). Before the first release the branch does not exist and the
//! application applies nothing. Environments that require approval sync by hand; the others
//! sync on their own, with prune and self-heal.

use serde::Serialize;

use super::serving::label_value;
use super::{Artifact, EmitError, EmitInput, Emitter, render_yaml_documents, yaml_header};

/// The template it is rendered from.
pub const TEMPLATE: &str = "argocd.yaml.j2";

/// The Argo CD emitter.
pub struct ArgoCd;

#[derive(Debug, Serialize)]
struct Application {
    name: String,
    environment: String,
    /// `deploy/<environment>` beside the config, relative to the repository root.
    path: String,
    argocd_namespace: String,
    part_of: Option<String>,
    project: String,
    repo_url: String,
    revision: String,
    /// The destination cluster's API server URL, when `cluster` is one.
    server: Option<String>,
    /// The destination cluster's name in Argo CD, otherwise.
    cluster: String,
    namespace: Option<String>,
    automated: bool,
}

impl Emitter for ArgoCd {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        let config = input.config;
        let mut artifacts = Vec::new();
        for (environment_name, environment) in &config.environments {
            let deploys_here = config
                .deployments
                .values()
                .any(|deployment| deployment.environment == *environment_name);
            if !deploys_here {
                continue;
            }
            let gitops = config.gitops.as_ref().ok_or_else(|| EmitError::Config {
                message: "`gitops` is not set: the Argo CD applications need the repository the cluster reads `deploy/` from".to_owned(),
                help: "add `gitops: { repo_url: https://github.com/OWNER/REPO.git }` at the top level".to_owned(),
                pointer: "/deployments".to_owned(),
            })?;
            let cluster = environment.cluster.clone().unwrap_or_default();
            let server = if cluster.is_empty() {
                Some("https://kubernetes.default.svc".to_owned())
            } else if cluster.starts_with("https://") || cluster.starts_with("http://") {
                Some(cluster.clone())
            } else {
                None
            };
            let project_label = label_value(&config.project.to_ascii_lowercase());
            let name = match &project_label {
                Some(project) => format!("{project}-{environment_name}"),
                None => environment_name.clone(),
            };
            let application = Application {
                // An Application name is a DNS subdomain: lowercase, at most 253 characters.
                name: name.to_ascii_lowercase().replace(['_', '.'], "-"),
                environment: environment_name.clone(),
                path: super::rebase(input.config_dir, &format!("deploy/{environment_name}")),
                argocd_namespace: gitops.argocd_namespace.clone(),
                part_of: label_value(&config.project),
                project: gitops.project.clone(),
                repo_url: gitops.repo_url.clone(),
                revision: crate::publish::release_branch(config, environment_name),
                server,
                cluster,
                namespace: environment.namespace.clone(),
                automated: !environment.requires_approval,
            };
            let mut contents = yaml_header(input);
            contents.push_str(&render_yaml_documents(
                input.templates,
                TEMPLATE,
                &serde_json::json!({ "app": application }),
            )?);
            artifacts.push(Artifact {
                path: super::rebase(
                    input.config_dir,
                    &format!("deploy/argocd/{environment_name}.yaml"),
                ),
                contents,
            });
        }
        Ok(artifacts)
    }

    fn owns(&self) -> &'static [super::Owned] {
        &[super::Owned {
            path: "deploy",
            at_root: false,
            file: false,
        }]
    }
}
