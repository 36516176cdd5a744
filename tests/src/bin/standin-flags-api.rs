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
//! records each request (method, raw target, decoded path, body, Authorization) as a JSON
//! line in `RECORD`.
//!
//! Usage: standin-flags-api TOKEN FLAGS_JSON RECORD [FAIL…]; prints the port it listens on
//! (127.0.0.1, a free one), then serves until killed.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, token, flags, record, fail @ ..] = args.as_slice() else {
        eprintln!("usage: standin-flags-api TOKEN FLAGS_JSON RECORD [FAIL…]");
        std::process::exit(2);
    };
    let mut flags: BTreeMap<String, Value> = serde_json::from_str(flags).expect("FLAGS_JSON");
    let mut fail: Vec<String> = fail.to_vec();
    let server = tiny_http::Server::http("127.0.0.1:0").expect("listening");
    println!("{}", server.server_addr().to_ip().expect("an IP address").port());
    std::io::stdout().flush().unwrap();
    for mut request in server.incoming_requests() {
        let mut body = String::new();
        let _ = request.as_reader().read_to_string(&mut body);
        let target = request.url().to_string();
        let path = percent_decode(&target);
        let method = request.method().to_string();
        let line = json!({ "method": method, "target": target, "path": path, "body": body, "auth": header(&request, "Authorization") });
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(record).unwrap();
        writeln!(log, "{line}").unwrap();
        let (status, answer) = if header(&request, "Authorization") != Some(format!("Bearer {token}")) {
            (401, json!({ "detail": "Authentication credentials were not provided." }))
        } else {
            respond(&method, &path, &body, &mut flags, &mut fail)
        };
        let mut response = tiny_http::Response::from_string(answer.to_string())
            .with_status_code(status)
            .with_header("Content-Type: application/json".parse::<tiny_http::Header>().unwrap());
        if let Some(to) = answer.get("location").and_then(Value::as_str) {
            response = response.with_header(format!("Location: {to}").parse::<tiny_http::Header>().unwrap());
        }
        let _ = request.respond(response);
    }
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

fn header(request: &tiny_http::Request, name: &'static str) -> Option<String> {
    request.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.to_string())
}

fn percent_decode(url: &str) -> String {
    percent_encoding::percent_decode_str(url).decode_utf8_lossy().into_owned()
}
