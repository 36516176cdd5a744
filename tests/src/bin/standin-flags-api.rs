//! A stand-in for the helpdesk platform's feature-flags API (no real one can run here), for
//! rb-flag's `http` backend tests. It answers as the seed's `curl` expects the real one to:
//!
//! - `GET /api/v1/features/flags/` → `{"flags": {name: value}}`
//! - `GET /api/v1/features/flags/{name}/` → `{"name": …, "value": …}`, 404 if unknown
//! - `POST /api/v1/features/flags/{name}/update/` with `{"value": …}` → the flag, 404 if unknown
//!
//! Every request needs `Authorization: Bearer TOKEN` (401 otherwise). A flag whose name is in
//! `FAIL` answers 500 to its first update (after storing the value, as a proxy's 502 after
//! the backend committed would); later updates work. A path that is `/moved/…` answers 302 to the same path without it. It
//! records each request (method, raw URL, body, headers) as a JSON line in `RECORD`.
//!
//! Usage: standin-flags-api TOKEN FLAGS_JSON RECORD [FAIL…]; prints the port it listens on
//! (127.0.0.1, a free one), then serves until killed.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use rb_tests::standin::serve;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, token, flags, record, fail @ ..] = args.as_slice() else {
        eprintln!("usage: standin-flags-api TOKEN FLAGS_JSON RECORD [FAIL…]");
        std::process::exit(2);
    };
    let mut flags: BTreeMap<String, Value> = serde_json::from_str(flags).expect("FLAGS_JSON");
    let mut fail: Vec<String> = fail.to_vec();
    serve(Path::new(record), |request| {
        if request.header("Authorization") != Some(format!("Bearer {token}").as_str()) {
            return (401, json!({ "detail": "Authentication credentials were not provided." }), vec![]);
        }
        let path = percent_encoding::percent_decode_str(&request.url).decode_utf8_lossy().into_owned();
        let (status, answer) = respond(&request.method, &path, &request.body, &mut flags, &mut fail);
        let location =
            answer.get("location").and_then(Value::as_str).map(|to| ("Location".to_string(), to.to_string()));
        (status, answer, location.into_iter().collect())
    })
}

fn respond(
    method: &str,
    path: &str,
    body: &str,
    flags: &mut BTreeMap<String, Value>,
    fail: &mut Vec<String>,
) -> (u16, Value) {
    if let Some(rest) = path.strip_prefix("/moved") {
        return (302, json!({ "location": rest }));
    }
    let Some(rest) = path.strip_prefix("/api/v1/features/flags/") else {
        return (404, json!({ "detail": "Not found." }));
    };
    if rest.is_empty() && method == "GET" {
        return (200, json!({ "flags": flags }));
    }
    let (name, update) = match rest.strip_suffix("/update/") {
        Some(name) => (name, true),
        None => (rest.trim_end_matches('/'), false),
    };
    let Some(value) = flags.get(name).cloned() else {
        return (404, json!({ "detail": "Not found." }));
    };
    match (method, update) {
        ("GET", false) => (200, json!({ "name": name, "value": value })),
        ("POST", true) if fail.iter().any(|f| f == name) => {
            fail.retain(|f| f != name);
            if let Some(new) = serde_json::from_str::<Value>(body).ok().and_then(|b| b.get("value").cloned())
            {
                flags.insert(name.to_string(), new);
            }
            (500, json!({ "detail": "Internal server error." }))
        }
        ("POST", true) => {
            match serde_json::from_str::<Value>(body).ok().and_then(|b| b.get("value").cloned()) {
                Some(new) => {
                    flags.insert(name.to_string(), new.clone());
                    (200, json!({ "name": name, "value": new }))
                }
                None => (400, json!({ "detail": "value is required" })),
            }
        }
        _ => (405, json!({ "detail": "Method not allowed." })),
    }
}
