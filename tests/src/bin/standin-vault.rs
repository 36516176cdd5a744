//! A stand-in for a Vault server's KV v2 secrets engine (no Vault can run here), for
//! rb-secret's `vault` backend tests. It answers the requests rb makes as Vault does:
//!
//! - `GET /v1/sys/internal/ui/mounts/MOUNT` → `{"data": {"type": "kv", "options": {"version": V}}}`
//! - `GET /v1/MOUNT/metadata/PATH?list=true` → `{"data": {"keys": […]}}`
//! - `GET /v1/MOUNT/metadata/PATH` → `current_version`, `versions` with `created_time`, …
//! - `GET /v1/MOUNT/data/PATH[?version=N]` → `{"data": {"data": …, "metadata": {"version": N}}}`
//! - `POST /v1/MOUNT/data/PATH` with `{"data": …, "options": {"cas": N}}` → a new version;
//!   400 when `cas` is not the current version
//!
//! `X-Vault-Token` must be TOKEN (403 `permission denied` otherwise); unknown paths are 404
//! with `{"errors": []}`. Every request (method, URL, body, headers) is recorded as a JSON
//! line in RECORD.
//!
//! Usage: standin-vault TOKEN MOUNT KV_VERSION SECRETS_JSON RECORD, where SECRETS_JSON maps a
//! path to its versions' data, oldest first; prints the port, then serves until killed.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use rb_tests::standin::serve;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, token, mount, kv, secrets, record] = args.as_slice() else {
        eprintln!("usage: standin-vault TOKEN MOUNT KV_VERSION SECRETS_JSON RECORD");
        std::process::exit(2);
    };
    let mut secrets: BTreeMap<String, Vec<Value>> = serde_json::from_str(secrets).expect("SECRETS_JSON");
    serve(Path::new(record), |request| {
        if request.header("X-Vault-Token") != Some(token.as_str()) {
            return (403, json!({ "errors": ["permission denied"] }), vec![]);
        }
        let (status, answer) = respond(&request.method, &request.url, &request.body, mount, kv, &mut secrets);
        (status, answer, vec![])
    })
}

const TIME: &str = "2025-10-01T09:00:00.000000Z";

fn respond(
    method: &str,
    url: &str,
    body: &str,
    mount: &str,
    kv: &str,
    secrets: &mut BTreeMap<String, Vec<Value>>,
) -> (u16, Value) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let not_found = (404, json!({ "errors": [] }));
    if path == format!("/v1/sys/internal/ui/mounts/{mount}") {
        return (200, json!({ "data": { "type": "kv", "options": { "version": kv } } }));
    }
    if let Some(rest) = path.strip_prefix(&format!("/v1/{mount}/metadata/")) {
        if query == "list=true" {
            let prefix = format!("{}/", rest.trim_end_matches('/'));
            let keys: Vec<String> =
                secrets.keys().filter_map(|k| k.strip_prefix(&prefix)).map(String::from).collect();
            return if keys.is_empty() { not_found } else { (200, json!({ "data": { "keys": keys } })) };
        }
        let Some(versions) = secrets.get(rest) else { return not_found };
        let all: BTreeMap<String, Value> = (1..=versions.len())
            .map(|n| {
                (n.to_string(), json!({ "created_time": TIME, "deletion_time": "", "destroyed": false }))
            })
            .collect();
        return (
            200,
            json!({ "data": { "current_version": versions.len(), "created_time": TIME, "updated_time": TIME, "versions": all } }),
        );
    }
    let Some(rest) = path.strip_prefix(&format!("/v1/{mount}/data/")) else { return not_found };
    match method {
        "GET" => {
            let Some(versions) = secrets.get(rest) else { return not_found };
            let n = query
                .strip_prefix("version=")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(versions.len());
            match versions.get(n.wrapping_sub(1)) {
                Some(data) => (
                    200,
                    json!({ "data": { "data": data, "metadata": { "version": n, "created_time": TIME } } }),
                ),
                None => not_found,
            }
        }
        "POST" => {
            let Ok(sent) = serde_json::from_str::<Value>(body) else {
                return (400, json!({ "errors": ["bad JSON"] }));
            };
            let versions = secrets.entry(rest.to_string()).or_default();
            let cas = sent.pointer("/options/cas").and_then(Value::as_u64);
            if cas.is_some_and(|c| c as usize != versions.len()) {
                return (
                    400,
                    json!({ "errors": ["check-and-set parameter did not match the current version"] }),
                );
            }
            versions.push(sent.get("data").cloned().unwrap_or(Value::Null));
            (200, json!({ "data": { "version": versions.len(), "created_time": TIME } }))
        }
        _ => (405, json!({ "errors": ["unsupported method"] })),
    }
}
