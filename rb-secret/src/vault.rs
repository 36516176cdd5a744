//! The `vault` backend: Vault's KV v2 HTTP API at `$VAULT_ADDR` with `$VAULT_TOKEN`, as the
//! `vault` CLI takes them.
//!
//! `GET /v1/MOUNT/metadata/PATH` gives the versions, `GET /v1/MOUNT/data/PATH?version=N` one
//! version's data, `POST /v1/MOUNT/data/PATH` writes a new version (with `cas` set to the
//! version read, so a concurrent write is refused rather than lost). A rollback writes an old
//! version's data back as a new version — what `vault kv rollback -version=N` does — holding
//! it in memory only. `set` writes `{"value": …}`, as the seed's `vault kv put … value=…`.

use std::time::Duration;

use rb_common::error::{Result, failed, usage};
use serde_json::{Value, json};

use crate::{SecretInfo, Secrets, SecretsConfig, Version, time};

/// A KV v2 mount of a Vault server.
pub struct Vault {
    addr: String,
    token: String,
    mount: String,
    prefix: String,
    agent: ureq::Agent,
}

impl Vault {
    /// The server in `$VAULT_ADDR`, the token in `$VAULT_TOKEN`; the mount must be KV v2.
    pub fn new(config: SecretsConfig) -> Result<Vault> {
        let addr = std::env::var("VAULT_ADDR").ok().filter(|a| !a.is_empty()).ok_or_else(|| {
            failed("VAULT_ADDR is not set: the Vault server's address (as the vault CLI takes it)")
        })?;
        // The token must not cross a network in clear.
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| {
            addr.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
        if !(addr.starts_with("https://") || loopback) {
            return Err(usage(format!(
                "VAULT_ADDR={addr}: plain http would send the token in clear; use https"
            )));
        }
        let token = std::env::var("VAULT_TOKEN").ok().filter(|t| !t.is_empty()).ok_or_else(|| {
            failed(
                "VAULT_TOKEN is not set (as the vault CLI takes it; the token itself never goes in a file)",
            )
        })?;
        let agent = rb_common::http::agent(Duration::from_secs(30));
        let prefix = config.prefix.trim_matches('/').to_string();
        let vault = Vault {
            addr: addr.trim_end_matches('/').to_string(),
            token,
            mount: config.vault_mount,
            prefix,
            agent,
        };
        vault.check_kv2()?;
        Ok(vault)
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) }
    }

    /// Refuses a name that is not `/`-separated plain segments: it goes into URLs.
    fn check(name: &str) -> Result<()> {
        let ok = name.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
        if ok {
            Ok(())
        } else {
            Err(usage(format!(
                "{name:?} is not a Vault secret name rb takes (segments of letters, digits, `.`, `_`, `-`)"
            )))
        }
    }

    fn number(version: &str) -> Result<u64> {
        version.parse().map_err(|_| usage(format!("{version:?} is not a Vault version number")))
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>, what: &str) -> Result<Value> {
        let url = format!("{}/v1/{path}", self.addr);
        // Vault Enterprise namespaces, as the vault CLI takes them (sent only when set).
        let ns = std::env::var("VAULT_NAMESPACE").ok().filter(|n| !n.is_empty());
        let sent = match (method, body) {
            ("POST", Some(b)) => {
                let mut r = self.agent.post(&url).header("X-Vault-Token", &self.token);
                if let Some(n) = &ns {
                    r = r.header("X-Vault-Namespace", n);
                }
                r.send_json(b)
            }
            _ => {
                let target = if method == "LIST" { format!("{url}?list=true") } else { url.clone() };
                let mut r = self.agent.get(&target).header("X-Vault-Token", &self.token);
                if let Some(n) = &ns {
                    r = r.header("X-Vault-Namespace", n);
                }
                r.call()
            }
        };
        let mut response = sent.map_err(|e| failed(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let to =
                response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("?").to_string();
            return Err(failed(format!(
                "{method} {url}: Vault redirects to {to} (a standby node?): point VAULT_ADDR at the active one"
            )));
        }
        let answer: Option<Value> = response.body_mut().read_json().ok();
        let errors = answer
            .as_ref()
            .and_then(|a| a.get("errors"))
            .and_then(Value::as_array)
            .map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        match status {
            200..=299 => Ok(answer.unwrap_or(Value::Null)),
            404 => Err(failed(format!("Vault has no {what} (404 at /v1/{path})"))),
            403 => Err(failed(format!(
                "Vault refused the token for {what} (403 permission denied{})",
                if errors.is_empty() { String::new() } else { format!(": {errors}") }
            ))),
            _ => Err(failed(format!(
                "{method} /v1/{path}: Vault answered {status}{}",
                if errors.is_empty() { String::new() } else { format!(" ({errors})") }
            ))),
        }
    }

    fn check_kv2(&self) -> Result<()> {
        let answer = self.request(
            "GET",
            &format!("sys/internal/ui/mounts/{}", self.mount),
            None,
            &format!("mount {}", self.mount),
        )?;
        let version = answer.pointer("/data/options/version").and_then(Value::as_str).unwrap_or("1");
        if version != "2" {
            return Err(usage(format!(
                "the Vault mount {} is KV version {version}: it keeps no versions to roll back to (rb-secret needs KV v2)",
                self.mount
            )));
        }
        Ok(())
    }

    fn metadata(&self, name: &str) -> Result<Value> {
        Self::check(name)?;
        let path = format!("{}/metadata/{}", self.mount, self.path(name));
        self.request("GET", &path, None, &format!("secret {}", self.full(name)))
    }

    fn data(&self, name: &str, version: Option<&str>) -> Result<(String, Value)> {
        Self::check(name)?;
        let mut path = format!("{}/data/{}", self.mount, self.path(name));
        if let Some(v) = version {
            path.push_str(&format!("?version={}", Self::number(v)?));
        }
        let answer = self.request("GET", &path, None, &format!("secret {}", self.full(name)))?;
        let data = answer.pointer("/data/data").cloned().filter(|d| d.is_object()).ok_or_else(|| {
            failed(format!(
                "{} version {} has no data (deleted or destroyed)",
                self.full(name),
                version.unwrap_or("current")
            ))
        })?;
        let read = answer.pointer("/data/metadata/version").and_then(Value::as_u64).unwrap_or_default();
        Ok((read.to_string(), data))
    }

    fn write(&self, name: &str, data: Value, cas: u64) -> Result<String> {
        let path = format!("{}/data/{}", self.mount, self.path(name));
        let answer = self.request(
            "POST",
            &path,
            Some(&json!({ "data": data, "options": { "cas": cas } })),
            &format!("secret {}", self.full(name)),
        )?;
        Ok(answer.pointer("/data/version").and_then(Value::as_u64).unwrap_or_default().to_string())
    }
}

impl Secrets for Vault {
    fn name(&self) -> &'static str {
        "vault"
    }

    fn full(&self, name: &str) -> String {
        format!("{}/{}", self.mount, self.path(name))
    }

    fn list(&self) -> Result<Vec<SecretInfo>> {
        let path = format!("{}/metadata/{}", self.mount, self.prefix);
        let answer =
            self.request("LIST", &path, None, &format!("secrets under {}/{}", self.mount, self.prefix))?;
        let keys: Vec<String> = answer
            .pointer("/data/keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default();
        keys.iter()
            .filter(|k| !k.ends_with('/'))
            .map(|k| {
                let meta = self.metadata(k)?;
                Ok(SecretInfo {
                    name: self.full(k),
                    created: meta.pointer("/data/created_time").and_then(time),
                    changed: meta.pointer("/data/updated_time").and_then(time),
                })
            })
            .collect()
    }

    fn versions(&self, name: &str) -> Result<Vec<Version>> {
        let meta = self.metadata(name)?;
        let current = meta.pointer("/data/current_version").and_then(Value::as_u64).unwrap_or_default();
        let all = meta.pointer("/data/versions").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut versions: Vec<(u64, Version)> = all
            .iter()
            .filter_map(|(n, v)| {
                let number: u64 = n.parse().ok()?;
                let gone = v.get("destroyed").and_then(Value::as_bool).unwrap_or(false)
                    || v.get("deletion_time").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
                let stages = if gone { vec!["deleted".to_string()] } else { Vec::new() };
                Some((
                    number,
                    Version {
                        id: n.clone(),
                        created: v.get("created_time").and_then(time),
                        stages,
                        current: number == current,
                    },
                ))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        Ok(versions.into_iter().map(|(_, v)| v).collect())
    }

    fn previous(&self, _name: &str, versions: &[Version]) -> Option<Version> {
        let current = versions.iter().position(|v| v.current)?;
        versions[current + 1..].iter().find(|v| v.stages.is_empty()).cloned()
    }

    fn value(&self, name: &str, version: Option<&str>) -> Result<(String, String)> {
        let (id, data) = self.data(name, version)?;
        let text = match data.get("value") {
            Some(Value::String(s)) if data.as_object().is_some_and(|o| o.len() == 1) => s.clone(),
            _ => data.to_string(),
        };
        Ok((id, text))
    }

    fn rollback(&self, name: &str, from: &Version, to: &Version) -> Result<String> {
        if !to.stages.is_empty() {
            return Err(failed(format!(
                "version {} of {} is deleted or destroyed: its data cannot be written back",
                to.id,
                self.full(name)
            ))
            .hint(format!(
                "`vault kv undelete -versions={} {}` first, if it was only deleted",
                to.id,
                self.full(name)
            )));
        }
        let (_, data) = self.data(name, Some(&to.id))?;
        let cas: u64 = from.id.parse().unwrap_or_default();
        self.write(name, data, cas)
    }

    fn creates(&self) -> bool {
        true
    }

    fn set(&self, name: &str, value: &str, _before: Option<&str>) -> Result<String> {
        let cas = self
            .versions(name)
            .ok()
            .and_then(|v| v.iter().find(|v| v.current).and_then(|v| v.id.parse().ok()))
            .unwrap_or(0);
        self.write(name, json!({ "value": value }), cas)
    }
}
