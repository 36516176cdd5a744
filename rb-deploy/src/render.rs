//! The `render` target: Render's API, with the key from the environment variable
//! `[deploy] render_token_env` names.
//!
//! `GET /v1/services/{id}/deploys` lists the deploys (newest first); the live one is what
//! runs, `previous` the newest deactivated one after it. `POST /v1/services/{id}/rollback`
//! with `{"deployId": …}` starts a new deploy, polled with `GET
//! /v1/services/{id}/deploys/{deploy}` until `live` (or a failed state) within the timeout.

use std::time::Duration;

use rb_common::config::FILE;
use rb_common::error::{Result, failed, usage};
use rb_common::health::Health;
use rb_common::lock::Lock;
use rb_common::wait::Poll;
use serde_json::{Value, json};

use crate::{Backend, DeployConfig, Revision, Target, Wait, not_settled};

/// A Render service.
pub struct Render {
    base: String,
    service: String,
    key: String,
    agent: ureq::Agent,
}

const FAILED: &[&str] = &["build_failed", "update_failed", "canceled", "pre_deploy_failed", "deactivated"];

impl Render {
    /// The service in `[deploy] render_service`, the key from the environment.
    pub fn new(config: DeployConfig) -> Result<Render> {
        let service = config.render_service.clone().ok_or_else(|| {
            usage(format!("[deploy] render_service is not set in {FILE} (the service id, srv-…)"))
        })?;
        let key =
            std::env::var(&config.render_token_env).ok().filter(|k| !k.is_empty()).ok_or_else(|| {
                failed(format!(
                    "Render's API key is not set: the environment variable {} is empty",
                    config.render_token_env
                ))
                .hint(format!(
                    "its name is [deploy] render_token_env in {FILE}; the key itself never goes in a file"
                ))
            })?;
        let agent = rb_common::http::agent(Duration::from_secs(30));
        Ok(Render { base: config.render_api.trim_end_matches('/').to_string(), service, key, agent })
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/v1/services/{}{path}", self.base, self.service);
        let auth = format!("Bearer {}", self.key);
        let sent = match body {
            Some(b) => self.agent.post(&url).header("Authorization", &auth).send_json(b),
            None => self.agent.get(&url).header("Authorization", &auth).call(),
        };
        let mut response = sent.map_err(|e| failed(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        let answer: Option<Value> = response.body_mut().read_json().ok();
        match status {
            200..=299 => answer
                .ok_or_else(|| failed(format!("{method} {url}: HTTP {status} with a body that is not JSON"))),
            401 | 403 => Err(failed(format!("{method} {url}: Render refused the API key (HTTP {status})"))),
            404 => Err(failed(format!("{method} {url}: Render has no such service or deploy (HTTP 404)"))),
            _ => Err(failed(format!(
                "{method} {url}: HTTP {status}{}",
                answer
                    .as_ref()
                    .and_then(|a| a["message"].as_str())
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ))),
        }
    }

    fn deploys(&self) -> Result<Vec<Value>> {
        let list = self.request("GET", "/deploys?limit=20", None)?;
        Ok(list
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.get("deploy").cloned().unwrap_or(d))
            .collect())
    }

    fn revision(d: &Value, current: bool) -> Revision {
        Revision {
            id: d["id"].as_str().unwrap_or_default().to_string(),
            created: d["createdAt"].as_str().map(String::from),
            detail: Some(format!(
                "{} (commit {})",
                d["status"].as_str().unwrap_or("?"),
                d.pointer("/commit/id").and_then(Value::as_str).unwrap_or("?")
            )),
            current,
        }
    }
}

impl Target for Render {
    fn backend(&self) -> Backend {
        Backend::Render
    }

    fn current(&self) -> Result<Revision> {
        let deploys = self.deploys()?;
        let live = deploys
            .iter()
            .find(|d| d["status"] == "live")
            .ok_or_else(|| failed(format!("Render's service {} has no live deploy", self.service)))?;
        Ok(Self::revision(live, true))
    }

    fn history(&self) -> Result<Vec<Revision>> {
        Ok(self.deploys()?.iter().map(|d| Self::revision(d, d["status"] == "live")).collect())
    }

    fn resolve(&self, to: &str, current: &Revision) -> Result<Revision> {
        let deploys = self.deploys()?;
        let at = deploys.iter().position(|d| d["id"].as_str() == Some(current.id.as_str())).unwrap_or(0);
        if to == current.id {
            return Ok(current.clone());
        }
        let found = if to == "previous" {
            deploys[at + 1..].iter().find(|d| d["status"] == "deactivated").ok_or_else(|| {
                failed(format!("Render's service {} has no earlier deploy that was live", self.service))
            })?
        } else {
            deploys.iter().find(|d| d["id"].as_str() == Some(to)).ok_or_else(|| {
                failed(format!("Render's service {} has no deploy {to:?} among its last 20", self.service))
                    .hint("rb-deploy history --target render lists them")
            })?
        };
        if found["status"] != "deactivated" {
            return Err(failed(format!(
                "deploy {} is {}, not a deploy that was live: Render cannot roll back to it",
                found["id"].as_str().unwrap_or("?"),
                found["status"].as_str().unwrap_or("?")
            )));
        }
        Ok(Self::revision(found, false))
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
            not_settled(Backend::Render, format!("rolling back to {}: {}", to.id, e.message()), &current.id)
        };
        let started = self.request("POST", "/rollback", Some(json!({ "deployId": to.id }))).map_err(after)?;
        let new = started["id"].as_str().unwrap_or_default().to_string();
        let mut status = String::new();
        let ended = wait.poll(&crate::waiting_for(&format!("the rollback deploy {new}")), || {
            let d = self.request("GET", &format!("/deploys/{new}"), None).map_err(after)?;
            status = d["status"].as_str().unwrap_or("?").to_string();
            if status == "live" || FAILED.contains(&status.as_str()) {
                return Ok(Poll::Done(()));
            }
            Ok(Poll::Pending(status.clone()))
        })?;
        if ended.is_none() {
            return Err(not_settled(
                Backend::Render,
                format!("the rollback deploy {new} is still {status} after {}s", wait.timeout.as_secs_f64()),
                &current.id,
            ));
        }
        if status != "live" {
            return Err(failed(format!(
                "the rollback deploy {new} ended {status}; {} still runs",
                current.id
            )));
        }
        healthy().map_err(|e| {
            not_settled(Backend::Render, format!("{} is live again, but {}", to.id, e.message()), &current.id)
        })
    }
}
