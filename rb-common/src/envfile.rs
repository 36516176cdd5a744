//! Environment backups: the file format, and the backups in the store
//! (`backups/env_<time>.env`) that rb-envfile captures and rb-secret's `env` backend and
//! rb-emergency's drills read and write.
//!
//! The file is bash-sourceable, and read back exactly.
//!
//! rb writes a header line (`# rb-envfile 1 scope=names`), then one `export NAME='VALUE'`
//! line per variable (single quotes; a `'` inside closed, escaped and reopened as `'\''`), and
//! `unset -v NAME` for a listed name that was not set. `source backups/env_X.env` in bash
//! therefore sets exactly the captured values — spaces, quotes, `$`, backticks, `$(…)`,
//! newlines, tabs, backslashes, UTF-8, empty — and never runs any of it, and restoring also
//! removes what did not exist. rb reads its own files back accepting only that quoting (a
//! hand-edited `"$HOME"` would mean one thing to bash and another to a reader that does not
//! expand it, so it is refused), and reads the seed's `env > file` backups (`KEY=VALUE`
//! lines), where a value with a newline is ambiguous: such lines are joined to the value
//! before them, with a warning. Errors and warnings name lines and variables, never values.

use std::path::PathBuf;

use crate::clock;
use crate::error::{Context, Result, failed, usage};
use crate::fsx::{self, Mode};
use crate::paths::shown;
use crate::store::{self, Event, Store};
use crate::ui::{note, warn};

/// The prefix of environment backup ids: `env_<YYYYMMDD_HHMMSS>`.
pub const SET: &str = "env";

/// The shell's own variables, which `capture --all` leaves out and reading a seed backup
/// drops.
pub const SHELL_OWN: &[&str] = &["PWD", "SHLVL", "_", "OLDPWD"];

/// The first line of every file rb writes, before the scope (shared with the store, whose
/// prune touches only environment files that start with it).
pub const HEADER: &str = crate::store::ENVFILE_HEADER;

/// A captured environment: variables in capture order, and listed names that were not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// Each variable's name and value (bytes: a value need not be UTF-8).
    pub vars: Vec<(String, Vec<u8>)>,
    /// Names that were asked for and not set: restoring unsets them.
    pub unset: Vec<String>,
    /// True when the whole environment was captured (`--all`, or a seed `env >` file), so a
    /// diff compares every name; false when only listed names were.
    pub all: bool,
    /// True for a seed-made `env > file` backup.
    pub legacy: bool,
}

/// True when `name` can be a shell variable: a letter or `_`, then letters, digits, `_`.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Refuses a name that is not a shell variable name.
pub fn check_name(name: &str) -> Result<()> {
    if is_name(name) {
        return Ok(());
    }
    Err(usage(format!(
        "{name:?} is not a shell variable name (a letter or `_`, then letters, digits and `_`)"
    )))
}

/// The shell text that sets exactly `env`: `export NAME='…'` and `unset -v NAME` lines. It
/// is the body of the file and what `rb-envfile export` prints.
pub fn shell_text(env: &EnvFile) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (name, value) in &env.vars {
        check_name(name)?;
        if value.contains(&0) {
            return Err(usage(format!("the value of {name} holds a NUL byte, which no environment can")));
        }
        out.extend_from_slice(b"export ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        single_quote(value, &mut out);
        out.push(b'\n');
    }
    for name in &env.unset {
        check_name(name)?;
        out.extend_from_slice(format!("unset -v {name}\n").as_bytes());
    }
    Ok(out)
}

/// The whole file: the header (with the scope, which `diff` needs), a comment, the text.
pub fn file_text(env: &EnvFile, comment: &str) -> Result<Vec<u8>> {
    let scope = if env.all { "all" } else { "names" };
    let mut out = format!("{HEADER} scope={scope}\n").into_bytes();
    for line in comment.lines() {
        out.extend_from_slice(format!("# {line}\n").as_bytes());
    }
    out.extend(shell_text(env)?);
    Ok(out)
}

/// `'…'` with each `'` written `'\''`: the one quoting in which bash interprets nothing, so
/// the file reads the same to a person, to bash and to [`parse`].
fn single_quote(value: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// Reads an environment file: rb's own (it starts with [`HEADER`]), or the seed's `env >
/// file`. `origin` names it in errors; `warn` receives what is ambiguous in a seed file.
pub fn parse(bytes: &[u8], origin: &str, warn: &mut dyn FnMut(String)) -> Result<EnvFile> {
    if bytes.starts_with(HEADER.as_bytes()) {
        parse_rb(bytes, origin)
    } else {
        parse_legacy(bytes, origin, warn)
    }
}

fn parse_rb(bytes: &[u8], origin: &str) -> Result<EnvFile> {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut env = EnvFile { all: first.ends_with(b"scope=all"), ..EnvFile::default() };
    let bad = |line: usize, what: &str| {
        usage(format!("{origin}: line {line}: {what}"))
            .hint("an rb environment file holds only `export NAME='value'` and `unset -v NAME` lines, as rb-envfile capture writes them")
    };
    let mut at = 0;
    let mut line = 1;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let text = &rest[..end];
        if text.is_empty() || text.starts_with(b"#") {
            at += end + 1;
            line += 1;
            continue;
        }
        if let Some(name) = text.strip_prefix(b"unset -v ").or_else(|| text.strip_prefix(b"unset ")) {
            let name = std::str::from_utf8(name).ok().filter(|n| is_name(n));
            let name = name.ok_or_else(|| bad(line, "`unset` of something that is not a variable name"))?;
            env.unset.push(name.to_string());
            at += end + 1;
            line += 1;
            continue;
        }
        let Some(assignment) = text.strip_prefix(b"export ") else {
            return Err(bad(line, "expected `export NAME='value'` or `unset -v NAME`"));
        };
        let eq =
            assignment.iter().position(|b| *b == b'=').ok_or_else(|| bad(line, "`export` without `=`"))?;
        let name = std::str::from_utf8(&assignment[..eq]).ok().filter(|n| is_name(n));
        let name =
            name.ok_or_else(|| bad(line, "`export` of something that is not a variable name"))?.to_string();
        // The value: `'…'` pieces (which may span lines) and `\'` between them, up to the end
        // of the line.
        let start = at + "export ".len() + eq + 1;
        let (value, next, lines) = quoted(&bytes[start..]).map_err(|what| bad(line, what))?;
        env.vars.retain(|(n, _)| *n != name);
        env.vars.push((name, value));
        at = start + next;
        line += lines + 1;
    }
    Ok(env)
}

/// Reads `'…'` pieces joined by `\'` up to the end of the line: the value, the bytes read
/// (with the newline), and the newlines inside quotes.
fn quoted(bytes: &[u8]) -> std::result::Result<(Vec<u8>, usize, usize), &'static str> {
    let (mut value, mut i, mut lines) = (Vec::new(), 0, 0);
    loop {
        match bytes.get(i) {
            Some(b'\'') => {
                let close = bytes[i + 1..]
                    .iter()
                    .position(|b| *b == b'\'')
                    .ok_or("a quote that is never closed (the file is cut short?)")?;
                let piece = &bytes[i + 1..i + 1 + close];
                lines += piece.iter().filter(|b| **b == b'\n').count();
                value.extend_from_slice(piece);
                i += close + 2;
            }
            Some(b'\\') if bytes.get(i + 1) == Some(&b'\'') => {
                value.push(b'\'');
                i += 2;
            }
            Some(b'\n') => return Ok((value, i + 1, lines)),
            None if i > 0 => return Ok((value, i, lines)),
            _ => return Err("a value that is not in single quotes (hand-edited? bash would expand it)"),
        }
    }
}

/// The seed's `env > file`: `NAME=VALUE` per line, values unquoted. A line that does not
/// start with a variable name and `=` continues the value before it (a value with newlines:
/// a PEM key, say); an exported bash function (`BASH_FUNC_f%%=() { …`) is skipped whole.
fn parse_legacy(bytes: &[u8], origin: &str, warn: &mut dyn FnMut(String)) -> Result<EnvFile> {
    let mut env = EnvFile { all: true, legacy: true, ..EnvFile::default() };
    let mut skipping = false;
    let mut continued = false;
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let name = line
            .iter()
            .position(|b| *b == b'=')
            .and_then(|eq| std::str::from_utf8(&line[..eq]).ok().map(|name| (name.to_string(), eq)));
        match name {
            Some((name, _)) if name.starts_with("BASH_FUNC_") => {
                warn(format!("{origin}: line {n}: an exported bash function; skipped"));
                skipping = true;
            }
            // Inside a value that already ran over lines, `NAME==…` is base64 padding and a PEM
            // block runs to its END line: continuation, not a new variable.
            Some((_, eq)) if continued && (line.get(eq + 1) == Some(&b'=') || open_pem(env.vars.last())) => {
                if let Some((name, value)) = env.vars.last_mut() {
                    warn(format!(
                        "{origin}: line {n} continues the value of {name} (it looks like part of it)"
                    ));
                    value.push(b'\n');
                    value.extend_from_slice(line);
                }
            }
            Some((name, eq)) if is_name(&name) => {
                if continued {
                    warn(format!(
                        "{origin}: line {n}: {name}= follows a value that ran over several lines; it is read as a new variable, which is a guess"
                    ));
                }
                skipping = false;
                continued = false;
                if env.vars.iter().any(|(v, _)| *v == name) {
                    warn(format!("{origin}: line {n}: {name} is set twice; the later value is kept"));
                    env.vars.retain(|(v, _)| *v != name);
                }
                env.vars.push((name, line[eq + 1..].to_vec()));
            }
            _ if skipping => {}
            _ => match env.vars.last_mut() {
                Some((name, value)) => {
                    warn(format!(
                        "{origin}: line {n} continues the value of {name}: in an `env >` file a value with a newline cannot be told from the lines after it; read as one value"
                    ));
                    continued = true;
                    value.push(b'\n');
                    value.extend_from_slice(line);
                }
                None if line.trim_ascii().is_empty() => {}
                None => {
                    return Err(usage(format!(
                        "{origin}: line {n} is not NAME=VALUE: not an environment backup"
                    ))
                    .hint("rb-envfile reads its own files and the old `env > backups/env_X.env` ones"));
                }
            },
        }
    }
    Ok(env)
}

/// True when `var`'s value opens a PEM block (`-----BEGIN …`) that it does not close.
fn open_pem(var: Option<&(String, Vec<u8>)>) -> bool {
    let Some((_, value)) = var else { return false };
    let text = String::from_utf8_lossy(value);
    text.contains("-----BEGIN ") && !text.contains("-----END ")
}

/// Writes `env` as backup `id` (0600, atomically) and logs it: `what` says how it was made
/// (`captured`, or rb-secret's `written by rb-secret set`), `action` names the event. The
/// caller holds the lock.
pub fn write(
    store: &Store,
    env: &EnvFile,
    id: &str,
    now: &chrono::DateTime<chrono::Local>,
    what: &str,
    action: &str,
) -> Result<()> {
    let path = store.dir.join(format!("{id}.env"));
    let comment = format!(
        "{what} {}: {} variables{}. Mode 0600: it holds secrets.\nRestore: text=$(rb-envfile export {id}) && eval \"$text\"   (or `source` this file in bash)",
        clock::rfc3339(now),
        env.vars.len(),
        if env.unset.is_empty() {
            String::new()
        } else {
            format!(", {} listed but not set", env.unset.len())
        },
    );
    let text = file_text(env, &comment)?;
    let written = fsx::atomic_write(&path, &text, Mode(0o600));
    let event = Event::ended(action, written.as_ref().err()).messages("SNAPSHOT SUCCESS", "SNAPSHOT FAILED");
    store.log_or_warn(event.set(SET).snapshot(id));
    written
}

/// The ids of the environment backups in the store, newest first.
pub fn backups(store: &Store) -> Vec<String> {
    let mut found: Vec<((String, u32), String)> = std::fs::read_dir(&store.dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let id = name.strip_suffix(".env")?.to_string();
            let (set, stamp, suffix) = store::parse_id(&id)?;
            let key = (stamp.to_string(), suffix);
            (set == SET).then_some((key, id))
        })
        .collect();
    found.sort();
    found.into_iter().rev().map(|(_, id)| id).collect()
}

/// An environment backup read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Its id (`env_20251013_120000`), or the file's name without `.env`.
    pub id: String,
    /// The file, as given or relative to the current folder.
    pub path: String,
    /// What it holds (a seed backup without the shell's own variables).
    pub env: EnvFile,
}

/// Finds and reads the backup `arg` names: `latest`, an id, or a file path. Warns when the
/// file can be read by others, and notes the shell's own variables left out of a seed one.
pub fn read(store: &Store, arg: &str) -> Result<Backup> {
    let path = locate(store, arg)?;
    let bytes = std::fs::read(&path).map_err(|e| {
        let what = if path.is_dir() {
            "is a folder, not an environment backup".to_string()
        } else {
            format!("cannot be read: {e}")
        };
        failed(format!("{} {what}", path.display()))
    })?;
    let shown_path = shown(&path);
    if let Some(why) = fsx::exposed(&path) {
        warn(&format!("{shown_path} {why}: it holds secrets; `chmod 600 {shown_path}`"));
    }
    let mut env = parse(&bytes, &shown_path, &mut |w| warn(&w))?;
    if env.legacy {
        let own: Vec<String> =
            env.vars.iter().map(|(n, _)| n.clone()).filter(|n| SHELL_OWN.contains(&n.as_str())).collect();
        if !own.is_empty() {
            note(&format!("{shown_path}: leaving out the shell's own {}", own.join(", ")));
            env.vars.retain(|(n, _)| !SHELL_OWN.contains(&n.as_str()));
        }
    }
    let id = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".env").to_string())
        .unwrap_or_default();
    Ok(Backup { id, path: shown_path, env })
}

fn locate(store: &Store, arg: &str) -> Result<PathBuf> {
    if arg == store::LATEST_GOOD {
        return Err(usage(format!(
            "environment backups carry no tags, so `{}` names none",
            store::LATEST_GOOD
        ))
        .hint("give `latest` or an id (env_YYYYMMDD_HHMMSS); rb-snapshot tag tags snapshots"));
    }
    if arg == store::LATEST {
        return match backups(store).first() {
            Some(id) => Ok(store.dir.join(format!("{id}.env"))),
            None => Err(failed(format!("no environment backup in {}", store.shown()))
                .hint("take one with rb-envfile capture")),
        };
    }
    if arg.contains('/') || arg.ends_with(".env") {
        let path = std::env::current_dir().ctx(|| "reading the current folder")?.join(arg);
        if !path.exists() {
            return Err(failed(format!("{arg}: no such file")));
        }
        return Ok(path);
    }
    match store::parse_id(arg) {
        Some((SET, _, _)) => {}
        _ => {
            return Err(usage(format!(
                "{arg:?} is not an environment backup id: ids are env_<YYYYMMDD_HHMMSS>, as env_20251013_120000"
            ))
            .hint("or give `latest`, or the path of a file"));
        }
    }
    let path = store.dir.join(format!("{arg}.env"));
    if !path.exists() {
        return Err(failed(format!(
            "no environment backup {arg} in {} ({} is not there)",
            store.shown(),
            shown(&path)
        ))
        .hint("ls backups/env_*.env shows the ones there are"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &[u8]) {
        let env = EnvFile {
            vars: vec![("V".into(), value.to_vec())],
            unset: vec!["GONE".into()],
            all: false,
            legacy: false,
        };
        let text = file_text(&env, "a comment\nover two lines").unwrap();
        let back = parse(&text, "t", &mut |w| panic!("{w}")).unwrap();
        assert_eq!(back, env, "{}", String::from_utf8_lossy(&text));
    }

    #[test]
    fn values_round_trip() {
        for v in [
            &b""[..],
            b"plain",
            b"it's",
            b"'",
            b"''\\'",
            b"a b\tc\nd\n",
            b"\n",
            b"$(touch pwned) `id` ${X} $HOME",
            b"\\\\n\\",
            "caf\u{e9} \u{1f600}".as_bytes(),
            b"\xff\xfe not utf-8",
            b"# not a comment",
            b"export X=1\nunset Y",
        ] {
            round_trip(v);
        }
        let all = EnvFile { all: true, ..EnvFile::default() };
        assert_eq!(parse(&file_text(&all, "").unwrap(), "t", &mut |_| {}).unwrap(), all);
    }

    #[test]
    fn names_and_quoting_are_checked_and_errors_quote_no_value() {
        for bad in ["", "1A", "A-B", "A B", "A=B", "BASH_FUNC_f%%"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for good in ["A", "_", "_a1", "DB_HOST"] {
            check_name(good).unwrap();
        }
        let file = |body: &str| format!("{HEADER} scope=names\n{body}").into_bytes();
        let refused = |body: &str, needle: &str| {
            let e = parse(&file(body), "f", &mut |_| {}).unwrap_err();
            assert!(e.message().contains(needle), "{body:?}: {e}");
            assert!(!e.message().contains("s3cret"), "{e}");
        };
        refused("export 1A='s3cret'\n", "line 2: `export` of something that is not a variable name");
        refused("export A='s3cret\n", "never closed");
        refused("export A=\"$HOME/s3cret\"\n", "line 2: a value that is not in single quotes");
        refused("export A=s3cret\n", "not in single quotes");
        refused("export A='x'\ns3cret\n", "line 3: expected `export NAME='value'`");
        refused("export A='a\nb'\nexport B='s3cret' x\n", "line 4: a value that is not in single quotes");
    }

    #[test]
    fn seed_backups_are_read_with_warnings_where_ambiguous() {
        let mut warnings = Vec::new();
        let env = parse(
            b"A=1\nB=x=y\nKEY=-----BEGIN KEY-----\nMIIE+/Bgk0B=AQs3cret\nq2Zb8w==\n-----END KEY-----\nBASH_FUNC_f%%=() {  echo hi\n}\nC=\n",
            "old",
            &mut |w| warnings.push(w),
        )
        .unwrap();
        assert!(env.legacy && env.all);
        let got: Vec<(&str, &[u8])> = env.vars.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        assert_eq!(
            got,
            [
                ("A", &b"1"[..]),
                ("B", b"x=y"),
                ("KEY", b"-----BEGIN KEY-----\nMIIE+/Bgk0B=AQs3cret\nq2Zb8w==\n-----END KEY-----"),
                ("C", b""),
            ]
        );
        assert!(warnings.iter().any(|w| w.contains("line 4 continues the value of KEY")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("line 7: an exported bash function")), "{warnings:?}");
        assert!(
            warnings.iter().any(|w| w.contains("line 9: C= follows a value that ran over")),
            "{warnings:?}"
        );
        assert!(!warnings.iter().any(|w| w.contains("s3cret")), "{warnings:?}");
    }
}
