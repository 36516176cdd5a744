//! The `http` backend: the platform's API, as the seed's `curl` uses it.
//!
//! `GET {url}/api/v1/features/flags/` lists (`{"flags": {name: value}}`), `GET
//! …/flags/{name}/` reads one (`{"name": …, "value": …}`), `POST …/flags/{name}/update/` with
//! `{"value": …}` sets one; names are percent-encoded, the token goes in `Authorization:
//! Bearer` from the environment variable `[flags] token_env` names. The two GETs are not in
//! the seed (it only POSTs); rb needs them for the values it replaces, and assumes them.
//! Redirects are not followed; every update is read back; the API has no transaction, so a
//! set that fails part-way puts back every flag it touched, the failed one included, and
//! believes only what reads back.

use std::collections::BTreeMap;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rb_common::config::FILE;
use rb_common::error::{Error, Result, failed, partial, usage};
use serde_json::{Value, json};

use crate::{Backend, FlagsConfig, Given, Replaced, ValueField, unknown};

/// What a name's path segment escapes: everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

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
        check_url(&flags.url)?;
        rb_common::config::check_seconds("[flags] timeout_s", flags.timeout_s, 600.0)?;
        let token = std::env::var(&flags.token_env).ok().filter(|t| !t.is_empty()).ok_or_else(|| {
            failed(format!("the API token is not set: the environment variable {} is empty", flags.token_env))
                .hint(format!("export {}=… (its name is [flags] token_env in {FILE}; the token itself never goes in a file)", flags.token_env))
        })?;
        let agent = rb_common::http::agent(Duration::from_secs_f64(flags.timeout_s));
        Ok(HttpFlags { base: flags.url.trim_end_matches('/').to_string(), token, agent })
    }

    fn url(&self, name: Option<&str>, update: bool) -> String {
        let mut url = format!("{}/api/v1/features/flags/", self.base);
        if let Some(name) = name {
            url.push_str(&format!("{}/", utf8_percent_encode(name, SEGMENT)));
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
        if (300..400).contains(&status) {
            let to =
                response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("?").to_string();
            return Err(Failure::Other(format!(
                "{what}: HTTP {status}, a redirect to {to}: rb does not follow it (set [flags] url in {FILE} to where the API is)"
            )));
        }
        let body: Option<Value> = response.body_mut().read_json().ok();
        match status {
            200..=299 => body
                .ok_or_else(|| Failure::Other(format!("{what}: HTTP {status} with a body that is not JSON"))),
            404 => Err(Failure::Unknown),
            401 | 403 => Err(Failure::Other(format!("{what}: the API refused the token (HTTP {status})"))),
            _ => Err(Failure::Other(format!(
                "{what}: HTTP {status}{}",
                body.as_ref()
                    .and_then(|b| b.get("detail"))
                    .and_then(Value::as_str)
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
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
            Ok(body) => match (body.get("name").and_then(Value::as_str), body.get("value")) {
                (Some(n), Some(v)) if n == name => Ok(Some(v.clone())),
                _ => Err(failed(format!(
                    "GET {}: the API answered without this flag's name and value",
                    self.url(Some(name), false)
                ))),
            },
            Err(Failure::Unknown) => Ok(None),
            Err(Failure::Other(e)) => Err(failed(e)),
        }
    }

    /// POSTs `value` and reads it back: a set is done only when the API then says so.
    fn set_one(&self, name: &str, value: &Value) -> std::result::Result<(), String> {
        match self.post(name, value) {
            Ok(_) => {}
            Err(Failure::Unknown) => return Err(format!("{name} is not in the API (HTTP 404)")),
            Err(Failure::Other(e)) => return Err(e),
        }
        match self.value_of(name) {
            Ok(Some(v)) if v == *value => Ok(()),
            Ok(Some(v)) => Err(format!("{name} reads back as {v} after the update, not {value}")),
            Ok(None) => Err(format!("{name} is gone from the API after the update")),
            Err(e) => Err(e.message().to_string()),
        }
    }
}

fn error(f: Failure) -> Error {
    match f {
        Failure::Unknown => failed("the API answered 404"),
        Failure::Other(e) => failed(e),
    }
}

/// Refuses a URL that would leak the token or go elsewhere than the API: credentials, a
/// query or a fragment in it, or plain http to anything but this machine.
fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| Err(usage(format!("{FILE}: [flags] url = {url:?}: {why}")));
    let Ok(uri) = url.parse::<ureq::http::Uri>() else { return bad("not a URL") };
    let Some(authority) = uri.authority() else { return bad("no host") };
    if authority.as_str().contains('@') {
        return bad("credentials in the URL would be printed and logged; the token comes from token_env");
    }
    if uri.query().is_some() || url.contains('#') {
        return bad("a query or fragment would end up inside every request's path");
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if matches!(authority.host(), "127.0.0.1" | "localhost" | "[::1]" | "::1") => Ok(()),
        Some("http") => bad("plain http would send the token in clear: use https"),
        _ => bad("not an http(s) URL"),
    }
}

/// Refuses a name no URL path can carry as one segment (`.`, `..`, `/`, control characters).
fn check_name(name: &str) -> Result<()> {
    if name == "." || name == ".." || name.contains('/') || name.chars().any(char::is_control) {
        return Err(usage(format!(
            "{name:?} cannot be a flag name in the API's URL (`.`, `..`, `/` and control characters cannot)"
        )));
    }
    Ok(())
}

/// What is sent for a value: a document's JSON as it is; a word from the command line as
/// the JSON it spells (`false`, `3`, `null`), else as a string.
fn json_of(given: &Given) -> Value {
    match given {
        Given::Value(v) => v.clone(),
        Given::Word(w) => serde_json::from_str(w).unwrap_or_else(|_| Value::String(w.clone())),
    }
}

impl Backend for HttpFlags {
    fn name(&self) -> &'static str {
        "http"
    }

    fn value_field(&self) -> Result<Option<ValueField>> {
        Ok(None)
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
            check_name(name)?;
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
        changes: &[(String, Given)],
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
        for (name, _) in changes {
            check_name(name)?;
        }
        let changes: Vec<(&String, Value)> = changes.iter().map(|(n, g)| (n, json_of(g))).collect();
        // Read every value first: an unknown flag is refused before anything changes.
        let mut before = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, _) in &changes {
            match self.value_of(name)? {
                Some(v) => {
                    before.insert((*name).clone(), v);
                }
                None => missing.push((*name).clone()),
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
        for (name, value) in &changes {
            if let Err(why) = self.set_one(name, value) {
                // The failed one may have been set all the same (a timeout, a proxy's 502):
                // put it back with the others, and believe only what reads back.
                done.push(name);
                let stuck: Vec<&str> =
                    done.iter().copied().filter(|n| self.set_one(n, &before[*n]).is_err()).collect();
                if stuck.is_empty() {
                    return Err(failed(format!(
                        "setting {name} failed: {why}; every flag was put back as it was ({})",
                        done.join(", ")
                    )));
                }
                let was: Vec<String> = stuck.iter().map(|n| format!("{n}={}", before[*n])).collect();
                return Err(partial(
                    format!(
                        "setting {name} failed: {why}; putting back {} failed too: they may hold the new values",
                        stuck.join(", ")
                    ),
                    format!("set them back when the API answers: they were {}", was.join(", ")),
                ));
            }
            done.push(name);
        }
        Ok(Replaced { before, absent: Vec::new() })
    }
}
