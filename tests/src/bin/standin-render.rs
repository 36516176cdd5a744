//! A stand-in for Render's API (no Render here), for rb-deploy's `render` target tests:
//!
//! - `GET /v1/services/SRV/deploys?limit=N` → `[{"deploy": {…}, "cursor": …}]`, newest first
//! - `POST /v1/services/SRV/rollback` with `{"deployId": ID}` → a new deploy `created`; read
//!   back, it is `build_in_progress`, then `live` (the previous live one `deactivated`), or
//!   `build_failed` when ID contains `bad`
//! - `GET /v1/services/SRV/deploys/ID` → that deploy
//! - `GET /health/` → 200, `GET /unhealthy/` → 503: the app's health URL, for every target's
//!   health check in the tests
//!
//! `Authorization: Bearer KEY` is required on `/v1/` (401 otherwise). Each request is
//! recorded (method, URL, body, headers) as a JSON line in RECORD.
//!
//! Usage: standin-render KEY SERVICE DEPLOYS_JSON RECORD; prints the port, serves until killed.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use rb_tests::standin::serve;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, key, service, deploys, record] = args.as_slice() else {
        eprintln!("usage: standin-render KEY SERVICE DEPLOYS_JSON RECORD");
        std::process::exit(2);
    };
    let mut deploys: Vec<Value> = serde_json::from_str(deploys).expect("DEPLOYS_JSON");
    let mut reads: std::collections::BTreeMap<String, u32> = Default::default();
    let prefix = format!("/v1/services/{service}");
    serve(Path::new(record), |request| {
        let (status, answer) = if request.url == "/health/" {
            (200, json!({ "status": "ok" }))
        } else if request.url == "/unhealthy/" {
            (503, json!({ "status": "down" }))
        } else if request.header("Authorization") != Some(format!("Bearer {key}").as_str()) {
            (401, json!({ "message": "unauthorized" }))
        } else if let Some(rest) = request.url.strip_prefix(&prefix) {
            respond(&request.method, rest, &request.body, &mut deploys, &mut reads)
        } else {
            (404, json!({ "message": "not found" }))
        };
        (status, answer, vec![])
    })
}

fn respond(
    method: &str,
    rest: &str,
    body: &str,
    deploys: &mut Vec<Value>,
    reads: &mut std::collections::BTreeMap<String, u32>,
) -> (u16, Value) {
    let path = rest.split('?').next().unwrap_or(rest);
    match (method, path) {
        ("GET", "/deploys") => (
            200,
            json!(deploys.iter().map(|d| json!({ "deploy": d, "cursor": d["id"] })).collect::<Vec<_>>()),
        ),
        ("POST", "/rollback") => {
            let Some(from) = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|b| b["deployId"].as_str().map(String::from))
            else {
                return (400, json!({ "message": "deployId is required" }));
            };
            let Some(old) = deploys.iter().find(|d| d["id"] == from.as_str()).cloned() else {
                return (404, json!({ "message": "deploy not found" }));
            };
            let id = format!("dep-rollback-{}", deploys.len());
            let new = json!({ "id": id, "status": "created", "commit": old["commit"], "rollbackOf": from });
            deploys.insert(0, new.clone());
            (201, new)
        }
        ("GET", p) if p.starts_with("/deploys/") => {
            let id = p.trim_start_matches("/deploys/").to_string();
            let n = reads.entry(id.clone()).or_default();
            *n += 1;
            let read = *n;
            let Some(i) = deploys.iter().position(|d| d["id"] == id.as_str()) else {
                return (404, json!({ "message": "deploy not found" }));
            };
            let from = deploys[i]["rollbackOf"].as_str().unwrap_or_default().to_string();
            if deploys[i]["status"] == "created" || deploys[i]["status"] == "build_in_progress" {
                let next = match read {
                    1 => "build_in_progress",
                    _ if from.contains("bad") => "build_failed",
                    _ => "live",
                };
                if next == "live" {
                    for d in deploys.iter_mut() {
                        if d["status"] == "live" {
                            d["status"] = json!("deactivated");
                        }
                    }
                }
                deploys[i]["status"] = json!(next);
            }
            (200, deploys[i].clone())
        }
        _ => (404, json!({ "message": "not found" })),
    }
}
