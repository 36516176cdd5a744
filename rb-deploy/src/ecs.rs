//! The `ecs` target: the service's task definition revision, through the user's AWS CLI.
//!
//! `previous` is the family's revision before the one the service runs (`list-task-definitions
//! --family-prefix --sort DESC`); the revision is checked to exist (`describe-task-definition`)
//! before anything changes; `update-service`; then `describe-services` is polled until the
//! service runs that revision with as many tasks running as desired and one deployment (not
//! `aws ecs wait`, whose own limit is ten minutes).

use rb_common::config::FILE;
use rb_common::error::{Result, failed, usage};
use rb_common::exec;
use rb_common::health::Health;
use rb_common::lock::Lock;
use rb_common::store::Store;
use rb_common::wait::Poll;
use serde_json::Value;

use crate::{Backend, DeployConfig, Revision, Target, Wait, not_settled};

/// An ECS service through the AWS CLI.
pub struct Ecs {
    config: DeployConfig,
    root: std::path::PathBuf,
}

/// `family:N` from a task definition ARN (or `family:N` itself).
fn short(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

impl Ecs {
    /// The configured AWS CLI; a missing one is an error naming the setting.
    pub fn new(store: &Store, config: DeployConfig) -> Result<Ecs> {
        let program = config.aws.first().cloned().unwrap_or_default();
        exec::find(&program, &store.root, &format!("deploy.aws in {FILE}"))?;
        Ok(Ecs { config, root: store.root.clone() })
    }

    fn call(&self, args: &[&str]) -> Result<Value> {
        let mut argv = self.config.aws.clone();
        argv.push("ecs".to_string());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--output".to_string(), "json".to_string()]);
        let out = exec::run(&argv, &self.root, &format!("deploy.aws in {FILE}"))?;
        if !out.ok() {
            return Err(failed(format!(
                "`aws ecs {}` failed ({}): {}",
                args[0],
                out.status(),
                out.summary()
            )));
        }
        serde_json::from_str(&out.stdout)
            .map_err(|e| failed(format!("`aws ecs {}` printed something rb cannot read: {e}", args[0])))
    }

    fn service(&self) -> Result<Value> {
        let answer = self.call(&[
            "describe-services",
            "--cluster",
            &self.config.cluster,
            "--services",
            &self.config.service,
        ])?;
        answer
            .pointer("/services/0")
            .cloned()
            .filter(|s| s["status"].as_str() != Some("INACTIVE"))
            .ok_or_else(|| {
                failed(format!("no ECS service {} in cluster {}", self.config.service, self.config.cluster))
                    .hint(format!("[deploy] cluster and service in {FILE}"))
            })
    }

    fn revision_number(id: &str) -> Option<u64> {
        id.rsplit(':').next()?.parse().ok()
    }
}

impl Target for Ecs {
    fn backend(&self) -> Backend {
        Backend::Ecs
    }

    fn current(&self) -> Result<Revision> {
        let service = self.service()?;
        let running = short(service["taskDefinition"].as_str().unwrap_or_default());
        let deployments = service["deployments"].as_array().map_or(0, Vec::len);
        Ok(Revision {
            id: running,
            created: None,
            detail: Some(format!(
                "{} of {} tasks running, {deployments} deployments",
                service["runningCount"], service["desiredCount"]
            )),
            current: true,
        })
    }

    fn history(&self) -> Result<Vec<Revision>> {
        let current = self.current()?.id;
        let answer =
            self.call(&["list-task-definitions", "--family-prefix", &self.config.family, "--sort", "DESC"])?;
        let mut revisions: Vec<Revision> = answer["taskDefinitionArns"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .map(|arn| {
                let id = short(arn);
                Revision { current: id == current, id, created: None, detail: None }
            })
            .collect();
        // Newest first, whatever order the API gives.
        revisions.sort_by_key(|r| std::cmp::Reverse(Self::revision_number(&r.id)));
        Ok(revisions)
    }

    fn resolve(&self, to: &str, current: &Revision) -> Result<Revision> {
        let id = if to == "previous" {
            let now = Self::revision_number(&current.id).unwrap_or(u64::MAX);
            let family =
                current.id.rsplit_once(':').map_or(self.config.family.as_str(), |(f, _)| f).to_string();
            self.history()?
                .into_iter()
                .find(|r| {
                    r.id.starts_with(&format!("{family}:"))
                        && Self::revision_number(&r.id).is_some_and(|n| n < now)
                })
                .map(|r| r.id)
                .ok_or_else(|| {
                    failed(format!("the family {} has no revision before {}", self.config.family, current.id))
                })?
        } else if Self::revision_number(to).is_some() && to.contains(':') {
            // The family the service runs: another family's revision is another application.
            let family = current.id.rsplit_once(':').map_or(current.id.as_str(), |(f, _)| f);
            if to.rsplit_once(':').map(|(f, _)| f) != Some(family) {
                return Err(usage(format!("{to} is not of the family the service runs ({family})")));
            }
            to.to_string()
        } else {
            return Err(usage(format!(
                "{to:?} is not a task definition revision: give family:N (helpdesk-task:41) or previous"
            )));
        };
        if id == current.id {
            return Ok(Revision { id, created: None, detail: None, current: true });
        }
        self.call(&["describe-task-definition", "--task-definition", &id]).map_err(|_| {
            failed(format!("there is no task definition {id}; nothing was changed"))
                .hint(format!("rb-deploy history --target ecs lists the revisions of {}", self.config.family))
        })?;
        Ok(Revision { id, created: None, detail: None, current: false })
    }

    fn deploy(
        &self,
        _lock: &Lock,
        to: &Revision,
        current: &Revision,
        wait: Wait,
        healthy: &mut dyn FnMut() -> Result<Health>,
    ) -> Result<Health> {
        // Whatever fails from here on may have changed the service: exit 3, with the way back.
        let after = |e: rb_common::error::Error| {
            not_settled(
                Backend::Ecs,
                format!("updating the service to {}: {}", to.id, e.message()),
                &current.id,
            )
        };
        self.call(&[
            "update-service",
            "--cluster",
            &self.config.cluster,
            "--service",
            &self.config.service,
            "--task-definition",
            &to.id,
        ])
        .map_err(after)?;
        let mut last = Value::Null;
        let stable = wait
            .poll(&crate::waiting_for(&format!("the service to run {} stably", to.id)), || {
                last = self.service().map_err(after)?;
                let runs = short(last["taskDefinition"].as_str().unwrap_or_default()) == to.id;
                let running = last["runningCount"].as_u64() == last["desiredCount"].as_u64();
                let settled = last["deployments"].as_array().is_none_or(|d| d.len() <= 1);
                if runs && running && settled {
                    return Ok(Poll::Done(()));
                }
                Ok(Poll::Pending(format!(
                    "{} of {} tasks running, {} deployments",
                    last["runningCount"],
                    last["desiredCount"],
                    last["deployments"].as_array().map_or(0, Vec::len)
                )))
            })?
            .is_some();
        if !stable {
            return Err(not_settled(
                Backend::Ecs,
                format!(
                    "the service was updated to {}, but is not stable after {}s ({} of {} tasks running)",
                    to.id,
                    wait.timeout.as_secs_f64(),
                    last["runningCount"],
                    last["desiredCount"]
                ),
                &current.id,
            ));
        }
        healthy().map_err(|e| {
            not_settled(Backend::Ecs, format!("the service runs {}, but {}", to.id, e.message()), &current.id)
        })
    }
}
