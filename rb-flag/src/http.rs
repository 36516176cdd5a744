//! The `http` backend: the platform's API, as the seed's `curl` uses it.
//!
//! `GET {url}/api/v1/features/flags/` lists (`{"flags": {name: value}}`), `GET
//! …/flags/{name}/` reads one (`{"name": …, "value": …}`), `POST …/flags/{name}/update/` with
//! `{"value": …}` sets one; names are percent-encoded, the token goes in `Authorization:
//! Bearer` from the environment variable `[flags] token_env` names. The API has no
//! transaction: a set that fails part-way puts back the flags it had already changed.

use std::collections::BTreeMap;
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rb_common::config::FILE;
use rb_common::error::{Error, Result, failed, partial, usage};
use serde_json::{Value, json};

use crate::{Backend, FlagsConfig, Replaced, unknown};

/// Flags behind the platform's API.
pub struct HttpFlags {
    base: String,
    token: String,
    agent: ureq::Agent,
}

enum Failure {
    /// 404: no such flag.
    Unknown,
    /// Anything else, as a sentence.
    Other(String),
}

impl HttpFlags {
    /// The API at `[flags] url`, with the token from the environment.
    pub fn new(flags: FlagsConfig) -> Result<HttpFlags> {
        let token = std::env::var(&flags.token_env).map_err(|_| {
            failed(format!("the API token is not set: the environment variable {} is empty", flags.token_env))
                .hint(format!("export {}=… (its name is [flags] token_env in {FILE}; the token itself never goes in a file)", flags.token_env))
        })?;
        if !(flags.url.starts_with("http://") || flags.url.starts_with("https://")) {
            return Err(usage(format!("{FILE}: [flags] url = {:?} is not an http(s) URL", flags.url)));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs_f64(flags.timeout_s.clamp(0.1, 600.0))))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(HttpFlags { base: flags.url.trim_end_matches('/').to_string(), token, agent })
    }

    fn url(&self, name: Option<&str>, update: bool) -> String {
        let mut url = format!("{}/api/v1/features/flags/", self.base);
        if let Some(name) = name {
            url.push_str(&format!("{}/", utf8_percent_encode(name, NON_ALPHANUMERIC)));
        }
        if update {
            url.push_str("update/");
        }
        url
    }

    fn answer(
        &self,
        what: &str,
        response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> std::result::Result<Value, Failure> {
        let mut response = response.map_err(|e| Failure::Other(format!("{what}: {e}")))?;
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(body),
            404 => Err(Failure::Unknown),
            401 | 403 => Err(Failure::Other(format!("{what}: the API refused the token (HTTP {status})"))),
            _ => Err(Failure::Other(format!(
                "{what}: HTTP {status}{}",
                body.get("detail").and_then(Value::as_str).map(|d| format!(" ({d})")).unwrap_or_default()
            ))),
        }
    }

    fn get(&self, name: Option<&str>) -> std::result::Result<Value, Failure> {
        let url = self.url(name, false);
        let sent = self.agent.get(&url).header("Authorization", &format!("Bearer {}", self.token)).call();
        self.answer(&format!("GET {url}"), sent)
    }

    fn post(&self, name: &str, value: &Value) -> std::result::Result<Value, Failure> {
        let url = self.url(Some(name), true);
        let sent = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .send_json(json!({ "value": value }));
        self.answer(&format!("POST {url}"), sent)
    }

    fn value_of(&self, name: &str) -> Result<Option<Value>> {
        match self.get(Some(name)) {
            Ok(body) => Ok(Some(body.get("value").cloned().unwrap_or(Value::Null))),
            Err(Failure::Unknown) => Ok(None),
            Err(Failure::Other(e)) => Err(failed(e)),
        }
    }
}

fn error(f: Failure) -> Error {
    match f {
        Failure::Unknown => failed("the API answered 404"),
        Failure::Other(e) => failed(e),
    }
}

impl Backend for HttpFlags {
    fn name(&self) -> &'static str {
        "http"
    }

    fn list(&self, names: &[String]) -> Result<BTreeMap<String, Value>> {
        if names.is_empty() {
            let body = self.get(None).map_err(error)?;
            let flags = body
                .get("flags")
                .and_then(Value::as_object)
                .ok_or_else(|| failed("the API's flag list has no `flags` object"))?;
            return Ok(flags.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        }
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        for name in names {
            match self.value_of(name)? {
                Some(v) => {
                    out.insert(name.clone(), v);
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(unknown(&missing));
        }
        Ok(out)
    }

    fn set(
        &self,
        changes: &[(String, Value)],
        remove: &[String],
        create: bool,
        dry_run: bool,
    ) -> Result<Replaced> {
        if !remove.is_empty() {
            return Err(usage(format!(
                "the flags API cannot remove a flag ({}): remove it where it was created",
                remove.join(", ")
            )));
        }
        // Read every value first: an unknown flag is refused before anything changes.
        let mut before = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, _) in changes {
            match self.value_of(name)? {
                Some(v) => {
                    before.insert(name.clone(), v);
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() && create {
            return Err(usage(format!(
                "the flags API cannot create a flag ({}): creating works with the django backend only",
                missing.join(", ")
            )));
        }
        if !missing.is_empty() {
            return Err(unknown(&missing));
        }
        if dry_run {
            return Ok(Replaced { before, absent: Vec::new() });
        }
        let mut done: Vec<&str> = Vec::new();
        for (name, value) in changes {
            if let Err(f) = self.post(name, value) {
                let why = match f {
                    Failure::Unknown => format!("{name} disappeared from the API"),
                    Failure::Other(e) => e,
                };
                // Put back what was already changed.
                let undo_failed: Vec<&str> =
                    done.iter().copied().filter(|n| self.post(n, &before[*n]).is_err()).collect();
                if undo_failed.is_empty() {
                    return Err(failed(format!(
                        "setting {name} failed: {why}; {} put back as {}",
                        if done.is_empty() {
                            "nothing was changed, nothing".to_string()
                        } else {
                            done.join(", ")
                        },
                        if done.is_empty() { "it was" } else { "they were" }
                    )));
                }
                return Err(partial(
                    format!(
                        "setting {name} failed: {why}; and putting back {} failed too",
                        undo_failed.join(", ")
                    ),
                    "rb-flag list shows what the API holds now; the values before are in this error's flags",
                ));
            }
            done.push(name);
        }
        Ok(Replaced { before, absent: Vec::new() })
    }
}
