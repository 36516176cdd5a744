//! The `aws` backend: AWS Secrets Manager through the user's own AWS CLI (found with `which`;
//! their profile, region and credentials), always with `--output json`.
//!
//! A rollback moves the `AWSCURRENT` stage (`update-secret-version-stage --move-to-version-id
//! … --remove-from-version-id …`; AWS then labels the replaced version `AWSPREVIOUS`): the
//! value never passes through rb. A new value goes to `put-secret-value` as `--secret-string
//! file:///dev/stdin`, on the CLI's stdin: never an argument, never a file. Values are read with
//! `--version-stage AWSCURRENT` or `--version-id`, never the CLI's default.

use std::path::PathBuf;

use rb_common::config::FILE;
use rb_common::error::{Result, failed};
use rb_common::exec;
use rb_common::store::Store;
use serde_json::Value;

use crate::{SecretInfo, Secrets, SecretsConfig, Version, time};

/// Secrets Manager through the AWS CLI.
pub struct Aws {
    argv: Vec<String>,
    prefix: String,
    root: PathBuf,
}

impl Aws {
    /// The configured CLI; a missing one is an error naming the setting.
    pub fn new(store: &Store, config: SecretsConfig) -> Result<Aws> {
        let mut argv = config.aws.clone();
        let Some(program) = argv.first().cloned() else {
            return Err(rb_common::error::usage(format!("{FILE}: [secrets] aws is an empty command")));
        };
        exec::find(&program, &store.root, &format!("secrets.aws in {FILE}"))?;
        if let Some(url) = &config.endpoint_url {
            argv.extend(["--endpoint-url".to_string(), url.clone()]);
        }
        Ok(Aws { argv, prefix: config.prefix, root: store.root.clone() })
    }

    fn call(&self, name: Option<&str>, args: &[&str]) -> Result<Value> {
        self.call_with(name, args, None)
    }

    /// Runs `aws secretsmanager ARGS --output json`, `input` (a value) on its stdin.
    fn call_with(&self, name: Option<&str>, args: &[&str], input: Option<&[u8]>) -> Result<Value> {
        let mut argv = self.argv.clone();
        argv.push("secretsmanager".to_string());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--output".to_string(), "json".to_string()]);
        let out = exec::run_with(&argv, &self.root, &format!("secrets.aws in {FILE}"), &[], input)?;
        if !out.ok() {
            let said = out.summary();
            if said.contains("ResourceNotFoundException") {
                return Err(failed(format!(
                    "Secrets Manager has no secret {}",
                    name.map(|n| self.full(n)).unwrap_or_default()
                ))
                .hint("rb-secret list shows the secrets under the prefix"));
            }
            return Err(failed(format!(
                "`aws secretsmanager {}` failed ({}): {said}",
                args[0],
                out.status()
            )));
        }
        if out.stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&out.stdout).map_err(|e| {
            failed(format!("`aws secretsmanager {}` printed something rb cannot read: {e}", args[0]))
        })
    }
}

impl Aws {
    /// Moves the `AWSCURRENT` stage of `name` from version `from` to version `to` (AWS then
    /// labels `from` `AWSPREVIOUS`): the value never passes through rb.
    fn move_current(&self, name: &str, to: &str, from: &str) -> Result<()> {
        let id = self.full(name);
        let args = ["update-secret-version-stage", "--secret-id", &id, "--version-stage", "AWSCURRENT"];
        let mut args = args.to_vec();
        args.extend(["--move-to-version-id", to, "--remove-from-version-id", from]);
        self.call(Some(name), &args).map(|_| ())
    }
}

impl Secrets for Aws {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn list(&self) -> Result<Vec<SecretInfo>> {
        let filter = format!("Key=name,Values={}", self.prefix);
        let answer = self.call(None, &["list-secrets", "--filters", &filter])?;
        let list = answer.get("SecretList").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(list
            .iter()
            .map(|s| SecretInfo {
                name: s.get("Name").and_then(Value::as_str).unwrap_or_default().to_string(),
                created: s.get("CreatedDate").and_then(time),
                changed: s.get("LastChangedDate").and_then(time),
            })
            .collect())
    }

    fn versions(&self, name: &str) -> Result<Vec<Version>> {
        let id = self.full(name);
        let answer = match self
            .call(Some(name), &["list-secret-version-ids", "--secret-id", &id, "--include-deprecated"])
        {
            Ok(answer) => answer,
            // Some servers (moto) answer an unknown secret here with a 500 instead of
            // ResourceNotFoundException: describe-secret, only then, says which it is.
            Err(e) => {
                self.call(Some(name), &["describe-secret", "--secret-id", &id])?;
                return Err(e);
            }
        };
        let list = answer.get("Versions").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut versions: Vec<(f64, Version)> = list
            .iter()
            .map(|v| {
                let stages: Vec<String> = v
                    .get("VersionStages")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let created = v.get("CreatedDate").cloned().unwrap_or(Value::Null);
                // Epoch seconds (CLI v1's default) or RFC 3339 text (v2, or iso8601 configured).
                let order = created.as_f64().unwrap_or_else(|| {
                    created
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0)
                });
                let version = Version {
                    id: v.get("VersionId").and_then(Value::as_str).unwrap_or_default().to_string(),
                    created: time(&created),
                    current: stages.iter().any(|s| s == "AWSCURRENT"),
                    stages,
                };
                (order, version)
            })
            .collect();
        // Newest first; AWSPREVIOUS right after the current one when times are equal.
        versions.sort_by(|a, b| {
            b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(b.1.current.cmp(&a.1.current))
        });
        Ok(versions.into_iter().map(|(_, v)| v).collect())
    }

    fn previous(&self, _name: &str, versions: &[Version]) -> Option<Version> {
        versions.iter().find(|v| v.stages.iter().any(|s| s == "AWSPREVIOUS")).cloned().or_else(|| {
            let current = versions.iter().position(|v| v.current)?;
            versions.get(current + 1).cloned()
        })
    }

    fn value(&self, name: &str, version: Option<&str>) -> Result<(String, String)> {
        let id = self.full(name);
        let mut args = vec!["get-secret-value", "--secret-id", &id];
        match version {
            Some(v) => args.extend(["--version-id", v]),
            None => args.extend(["--version-stage", "AWSCURRENT"]),
        }
        let answer = self.call(Some(name), &args)?;
        let value = answer
            .get("SecretString")
            .and_then(Value::as_str)
            .ok_or_else(|| failed(format!("{id} has no SecretString (a binary secret?)")))?;
        let version = answer.get("VersionId").and_then(Value::as_str).unwrap_or_default();
        Ok((version.to_string(), value.to_string()))
    }

    fn rollback(&self, name: &str, from: &Version, to: &Version) -> Result<String> {
        let id = self.full(name);
        self.move_current(name, &to.id, &from.id)?;
        let now = self.versions(name).map_err(|e| {
            rb_common::error::partial(
                format!(
                    "the AWSCURRENT stage of {id} was moved, but reading it back failed: {}",
                    e.message()
                ),
                format!(
                    "check with `rb-secret versions {name}`; `rb-secret rollback {name} --to {}` goes back",
                    from.id
                ),
            )
        })?;
        let current: Vec<&Version> = now.iter().filter(|v| v.current).collect();
        match current.as_slice() {
            [v] if v.id == to.id => Ok(v.id.clone()),
            _ => Err(rb_common::error::partial(
                format!(
                    "the AWSCURRENT stage of {id} was moved, but {} does not read back as current",
                    to.id
                ),
                format!(
                    "check with `rb-secret versions {name}`; `rb-secret rollback {name} --to {}` goes back",
                    from.id
                ),
            )),
        }
    }

    fn set(&self, name: &str, value: &str, before: Option<&str>) -> Result<String> {
        let id = self.full(name);
        // The value goes to the CLI on its stdin (`file:///dev/stdin`): never an argument, never
        // a file that a killed run could leave behind.
        let answer = self.call_with(
            Some(name),
            &["put-secret-value", "--secret-id", &id, "--secret-string", "file:///dev/stdin"],
            Some(value.as_bytes()),
        )?;
        let version = answer.get("VersionId").and_then(Value::as_str).unwrap_or_default().to_string();
        let undo = |what: String| {
            rb_common::error::partial(
                what,
                match before {
                    Some(b) => format!(
                        "check with `rb-secret versions {name}`; `rb-secret rollback {name} --to {b}` goes back"
                    ),
                    None => format!("check with `rb-secret versions {name}`"),
                },
            )
        };
        let current = |now: &[Version]| -> Vec<String> {
            now.iter().filter(|v| v.current).map(|v| v.id.clone()).collect()
        };
        let now = self.versions(name).map_err(|e| {
            undo(format!("{id}: the new value was stored, but reading back failed: {}", e.message()))
        })?;
        if current(&now) == [version.clone()] {
            return Ok(version);
        }
        // AWSCURRENT left on the old version too (seen with moto after a stage move): move it.
        if let Some(b) = before.filter(|b| *b != version) {
            self.move_current(name, &version, b)?;
            let now = self
                .versions(name)
                .map_err(|e| undo(format!("{id}: reading back failed: {}", e.message())))?;
            if current(&now) == [version.clone()] {
                return Ok(version);
            }
        }
        Err(undo(format!(
            "{id}: the new version {version} was stored, but it is not the one current version"
        )))
    }
}
