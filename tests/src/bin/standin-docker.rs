//! A stand-in for `docker compose` (no Docker engine can run here), for rb-deploy's `docker`
//! target tests. Installed as `docker` first on a test's PATH, it answers the commands rb
//! runs as Docker Compose v2 does, keeping the "running" services in a state file:
//!
//! - `compose [--project-directory D] [-f F] config --quiet` — checks the file: top-level keys
//!   Compose knows, a `services:` map, each service with an `image:` or `build:`; exit 1 with
//!   a message naming the problem otherwise
//! - `compose … config --services` — the service names
//! - `compose … up -d` — every service of the file "runs" its image; an image whose tag ends in
//!   `-unhealthy` runs with health `unhealthy`, one ending in `-crashing` is `restarting`
//! - `compose … ps --format json` — one JSON object a line: `Service`, `State`, `Health`, `Image`
//! - `compose … ps -q` — the running containers' ids
//! - `compose … ps --services --filter status=running` — the running services
//! - `compose … config --hash=*` — `service hash` lines (a hash of the service's lines)
//! - `compose … down` — nothing runs
//! - `compose version` — a version line
//! - `ps -a -q --no-trunc --filter label=…` — every container's id (one project here)
//! - `image inspect --format {{.Id}} NAME` — every image is there (a tag's id from its name);
//!   `image tag` — accepted
//! - `inspect ID…` — what the engine says of them: `Id`, `Image`, `Config.Image`,
//!   `Config.Labels` (project, service, config-hash), `State.Status`, `State.Health.Status`
//!
//! `STANDIN_DOCKER_STATE` is the state file, `STANDIN_DOCKER_LOG` where each argv is recorded.

// (A stand-in: its `main` answers every command in one match, as the list above reads.)
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    missing_docs
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

const TOP: &[&str] = &["services", "volumes", "networks", "configs", "secrets", "name", "version", "include"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(log) = std::env::var("STANDIN_DOCKER_LOG") {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        writeln!(f, "{}", args.join(" ")).unwrap();
    }
    let state_path = PathBuf::from(std::env::var("STANDIN_DOCKER_STATE").expect("STANDIN_DOCKER_STATE"));
    let mut rest = args.as_slice();
    let state_now = || -> BTreeMap<String, Value> {
        std::fs::read_to_string(&state_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    };
    match rest.first().map(String::as_str) {
        Some("compose") => rest = &rest[1..],
        Some("ps") => {
            for name in state_now().keys() {
                println!("{}", id_of(name));
            }
            return;
        }
        // Every image is there: a tag's id is derived from its name, an id is itself.
        Some("image") if rest.get(1).map(String::as_str) == Some("inspect") => {
            let name = rest.last().cloned().unwrap_or_default();
            match name.strip_prefix("sha256:") {
                Some(_) => println!("{name}"),
                None => println!("sha256:{}", hex(&name)),
            }
            return;
        }
        Some("image") if rest.get(1).map(String::as_str) == Some("tag") => return,
        Some("inspect") => {
            let state = state_now();
            let rows: Vec<Value> = rest[1..]
                .iter()
                .filter_map(|id| state.iter().find(|(name, _)| id_of(name).starts_with(id.as_str())))
                .map(|(name, s)| {
                    let health = s["Health"].as_str().filter(|h| !h.is_empty());
                    let mut st = json!({ "Status": s["State"] });
                    if let Some(h) = health {
                        st["Health"] = json!({ "Status": h });
                    }
                    json!({
                        "Id": id_of(name),
                        "Image": format!("sha256:{}", hex(s["Image"].as_str().unwrap_or_default())),
                        "Config": { "Image": s["Image"], "Labels": {
                            "com.docker.compose.project": "helpdesk",
                            "com.docker.compose.service": name,
                            "com.docker.compose.oneoff": "False",
                            "com.docker.compose.config-hash": s["Hash"],
                        }},
                        "State": st,
                    })
                })
                .collect();
            println!("{}", Value::Array(rows));
            return;
        }
        _ => {
            eprintln!(
                "standin-docker: only `docker compose`, `docker ps` and `docker inspect` are implemented"
            );
            std::process::exit(125);
        }
    }
    let (mut dir, mut file) = (PathBuf::from("."), None);
    loop {
        match rest {
            [flag, _, tail @ ..] if flag == "-p" => rest = tail,
            [flag, value, tail @ ..] if flag == "--project-directory" => {
                dir = PathBuf::from(value);
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "-f" => {
                file = Some(PathBuf::from(value));
                rest = tail;
            }
            _ => break,
        }
    }
    let file = file.unwrap_or_else(|| dir.join("docker-compose.yml"));
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    let mut state: BTreeMap<String, Value> = std::fs::read_to_string(&state_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    match words.as_slice() {
        ["version"] => println!("Docker Compose version v2.29.7-standin"),
        ["config", "--quiet"] => {
            if let Err(e) = services(&file) {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        ["config", "--services"] => {
            for (name, _) in services(&file).unwrap_or_else(|e| fail(&e)) {
                println!("{name}");
            }
        }
        ["config", "--hash=*"] => {
            for (name, image) in services(&file).unwrap_or_else(|e| fail(&e)) {
                println!("{name} {}", hex(&format!("{name} {image}")));
            }
        }
        ["ps", "-q"] => {
            for (name, s) in &state {
                if s["State"] == "running" {
                    println!("{}", id_of(name));
                }
            }
        }
        ["ps", "--services", "--filter", "status=running"] => {
            for (name, s) in &state {
                if s["State"] == "running" {
                    println!("{name}");
                }
            }
        }
        ["up", "-d"] => {
            let services = services(&file).unwrap_or_else(|e| fail(&e));
            state.clear();
            for (name, image) in services {
                let (s, health) = if image.ends_with("-unhealthy") {
                    ("running", "unhealthy")
                } else if image.ends_with("-crashing") {
                    ("restarting", "")
                } else {
                    ("running", "")
                };
                eprintln!(" Container helpdesk-{name}-1  Started");
                let hash = hex(&format!("{name} {image}"));
                state.insert(name, json!({ "State": s, "Health": health, "Image": image, "Hash": hash }));
            }
        }
        ["down"] => state.clear(),
        ["ps", "--format", "json"] => {
            for (name, s) in &state {
                let mut row = s.clone();
                row["Service"] = json!(name);
                row["Name"] = json!(format!("helpdesk-{name}-1"));
                println!("{row}");
            }
        }
        other => fail(&format!("standin-docker: `compose {}` is not implemented", other.join(" "))),
    }
    std::fs::write(&state_path, serde_json::to_string(&state).unwrap()).unwrap();
}

/// A container's id: 64 hex digits from its service's name.
fn id_of(service: &str) -> String {
    let h = hex(service);
    format!("{h}{h}")
}

/// 32 hex digits that depend on `text` (FNV-1a, twice): enough for a stand-in's ids and hashes.
fn hex(text: &str) -> String {
    let fnv = |seed: u64| text.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4))
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}

/// The services of a compose file and their images, or what is wrong with it.
fn services(file: &PathBuf) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("open {}: {e}", file.display()))?;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut in_services = false;
    let mut has_source = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.contains('\t') {
            return Err(format!("yaml: line {}: found character that cannot start any token", i + 1));
        }
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().split(':').next().unwrap_or_default().to_string();
        if indent == 0 {
            if !TOP.contains(&key.as_str()) && !key.starts_with("x-") {
                return Err(format!(
                    "validating {}: (root) additional property {key} is not allowed",
                    file.display()
                ));
            }
            in_services = key == "services";
        } else if in_services && indent == 2 {
            out.push((key.clone(), String::new()));
            has_source.insert(key, false);
        } else if in_services && indent == 4 && (key == "image" || key == "build") {
            let Some((name, image)) = out.last_mut() else { continue };
            has_source.insert(name.clone(), true);
            if key == "image" {
                *image = line.trim().trim_start_matches("image:").trim().trim_matches('"').to_string();
            }
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no service: services must be a mapping", file.display()));
    }
    if let Some((name, _)) = has_source.iter().find(|(_, ok)| !**ok) {
        return Err(format!(
            "service {name:?} has neither an image nor a build context specified: invalid compose project"
        ));
    }
    Ok(out)
}
