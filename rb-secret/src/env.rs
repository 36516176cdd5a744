//! The `env` backend: the secret is a variable in the environment backups rb-envfile writes
//! (`backups/env_<time>.env`). Each backup that holds the variable is a version, the newest
//! the current one; `set` and `rollback` write a new backup (the newest one with the variable
//! changed), and say how to load it: nothing can change the environment of a running shell
//! from outside it, which is what the seed's `export` in a script pretended to do.

use rb_common::clock;
use rb_common::envfile::{self, EnvFile};
use rb_common::error::{Result, failed};
use rb_common::store::Store;

use crate::{SecretInfo, Secrets, Version};

/// Secrets kept in environment backups.
pub struct EnvSecrets {
    store: Store,
}

impl EnvSecrets {
    /// The environment backups of `store`.
    pub fn new(store: Store) -> EnvSecrets {
        EnvSecrets { store }
    }

    fn read(&self, id: &str) -> Result<EnvFile> {
        Ok(envfile::read(&self.store, id)?.env)
    }

    /// Writes the newest backup again with `name` set to `value`; returns the new id. The
    /// caller holds the lock.
    fn write_with(&self, name: &str, value: &[u8]) -> Result<String> {
        let mut env = match envfile::backups(&self.store).first() {
            Some(id) => self.read(id)?,
            None => EnvFile::default(),
        };
        env.unset.retain(|n| n != name);
        match env.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_vec(),
            None => env.vars.push((name.to_string(), value.to_vec())),
        }
        let now = clock::now()?;
        let id = self.store.next_id(envfile::SET, &now)?;
        envfile::write(&self.store, &env, &id, &now, "written by rb-secret", "secret-env")?;
        Ok(id)
    }
}

impl Secrets for EnvSecrets {
    fn name(&self) -> &'static str {
        "env"
    }

    fn full(&self, name: &str) -> String {
        name.to_string()
    }

    fn list(&self) -> Result<Vec<SecretInfo>> {
        let Some(newest) = envfile::backups(&self.store).into_iter().next() else { return Ok(Vec::new()) };
        let env = self.read(&newest)?;
        Ok(env
            .vars
            .iter()
            .map(|(n, _)| SecretInfo { name: n.clone(), created: None, changed: None })
            .collect())
    }

    fn versions(&self, name: &str) -> Result<Vec<Version>> {
        envfile::check_name(name)?;
        let mut versions = Vec::new();
        for id in envfile::backups(&self.store) {
            if self.read(&id)?.vars.iter().any(|(n, _)| n == name) {
                let created =
                    rb_common::store::parse_id(&id).and_then(|(_, stamp, _)| clock::from_stamp(stamp));
                versions.push(Version { id, created, stages: Vec::new(), current: versions.is_empty() });
            }
        }
        if versions.is_empty() {
            return Err(failed(format!("no environment backup in {} holds {name}", self.store.shown())));
        }
        Ok(versions)
    }

    fn value(&self, name: &str, version: Option<&str>) -> Result<(String, String)> {
        let id = match version {
            Some(v) => v.to_string(),
            None => self.versions(name)?.remove(0).id,
        };
        let env = self.read(&id)?;
        let value = env
            .vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| failed(format!("{id} does not hold {name}")))?;
        Ok((id, String::from_utf8_lossy(&value).into_owned()))
    }

    fn rollback(&self, name: &str, _from: &Version, to: &Version) -> Result<String> {
        let env = self.read(&to.id)?;
        let value = env
            .vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| failed(format!("{} does not hold {name}", to.id)))?;
        self.write_with(name, &value)
    }

    fn creates(&self) -> bool {
        true
    }

    /// The newest backup whose value differs from the current one: going back to an equal
    /// value would change nothing.
    fn previous(&self, name: &str, versions: &[Version]) -> Option<Version> {
        let current = versions.iter().find(|v| v.current)?;
        let now = self.value(name, Some(&current.id)).ok()?.1;
        versions
            .iter()
            .filter(|v| !v.current)
            .find(|v| self.value(name, Some(&v.id)).is_ok_and(|(_, x)| x != now))
            .cloned()
    }

    fn set(&self, name: &str, value: &str, _before: Option<&str>) -> Result<String> {
        envfile::check_name(name)?;
        self.write_with(name, value.as_bytes())
    }

    fn load_hint(&self, after: &str) -> Option<String> {
        Some(format!("text=$(rb-envfile export {after}) && eval \"$text\""))
    }
}
