//! The environment file: bash-sourceable, and read back exactly.
//!
//! rb writes one `export NAME='VALUE'` line per variable (single quotes; a `'` inside closed,
//! escaped and reopened as `'\''`), so `source backups/env_X.env` in bash
//! sets exactly the captured values — spaces, quotes, `$`, backticks, `$(…)`, newlines,
//! tabs, backslashes, UTF-8, empty — and never runs any of it. A listed name that was not set
//! is written `unset NAME`, so restoring also removes what did not exist. rb reads its own
//! files back with the same POSIX word splitting, and also the seed's `env > file` backups
//! (`KEY=VALUE` lines), where a value with a newline is ambiguous: such lines are joined to
//! the value before them, with a warning.

use rb_common::error::{Result, usage};

/// A captured environment: variables in capture order, and listed names that were not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// Each variable's name and value (bytes: a value need not be UTF-8).
    pub vars: Vec<(String, Vec<u8>)>,
    /// Names that were asked for and not set: restoring unsets them.
    pub unset: Vec<String>,
    /// True for a seed-made `env > file` backup.
    pub legacy: bool,
}

impl EnvFile {
    /// The value of `name`, if captured.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
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

/// The shell text that sets exactly `env`: `export NAME='…'` and `unset NAME` lines. It is
/// the body of the file and what `rb-envfile export` prints.
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
        out.extend_from_slice(format!("unset {name}\n").as_bytes());
    }
    Ok(out)
}

/// `'…'` with each `'` written `'\''`: the one quoting in which bash interprets nothing, so
/// the file reads the same to a person, to bash and to the POSIX word splitter that reads it
/// back (`shlex`, whose own quoter mixes in double quotes).
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

/// Reads an environment file: rb's own format, or the seed's `env > file`. `origin` names
/// it in errors; `warn` receives what is ambiguous in a seed-made file.
pub fn parse(bytes: &[u8], origin: &str, warn: &mut dyn FnMut(String)) -> Result<EnvFile> {
    let first =
        bytes.split(|b| *b == b'\n').map(|l| l.trim_ascii()).find(|l| !l.is_empty() && !l.starts_with(b"#"));
    match first {
        Some(l) if l.starts_with(b"export ") || l.starts_with(b"unset ") => parse_rb(bytes, origin),
        _ => parse_legacy(bytes, origin, warn),
    }
}

const UNCLOSED: &str = "a quote that is never closed (the file is cut short?)";

fn parse_rb(bytes: &[u8], origin: &str) -> Result<EnvFile> {
    let mut words = shlex::bytes::Shlex::new(bytes);
    let mut env = EnvFile::default();
    let bad = |line: usize, what: &str| {
        usage(format!("{origin}: line {line}: {what}"))
            .hint("an rb environment file holds `export NAME='value'` and `unset NAME` lines")
    };
    while let Some(word) = words.next() {
        let line = words.line_no;
        match word.as_slice() {
            b"export" => {
                let Some(assignment) = words.next() else {
                    return Err(bad(
                        line,
                        if words.had_error { UNCLOSED } else { "`export` with nothing after it" },
                    ));
                };
                let Some(eq) = assignment.iter().position(|b| *b == b'=') else {
                    return Err(bad(line, "expected NAME=VALUE after `export`"));
                };
                let name = std::str::from_utf8(&assignment[..eq])
                    .map_err(|_| bad(line, "a name that is not UTF-8"))?;
                check_name(name).map_err(|e| bad(line, e.message()))?;
                env.vars.retain(|(n, _)| n != name);
                env.vars.push((name.to_string(), assignment[eq + 1..].to_vec()));
            }
            b"unset" => {
                let Some(name) = words.next() else {
                    return Err(bad(
                        line,
                        if words.had_error { UNCLOSED } else { "`unset` with nothing after it" },
                    ));
                };
                let name = String::from_utf8(name).map_err(|_| bad(line, "a name that is not UTF-8"))?;
                check_name(&name).map_err(|e| bad(line, e.message()))?;
                env.unset.push(name);
            }
            other => {
                return Err(bad(
                    line,
                    &format!("expected `export` or `unset`, found {:?}", String::from_utf8_lossy(other)),
                ));
            }
        }
    }
    if words.had_error {
        return Err(bad(words.line_no, UNCLOSED));
    }
    Ok(env)
}

/// The seed's `env > file`: `NAME=VALUE` per line, values unquoted. A line that does not
/// start a variable continues the value before it (a value with newlines); shell functions
/// (`BASH_FUNC_f%%=() { …`) and other names that are not shell names are skipped.
fn parse_legacy(bytes: &[u8], origin: &str, warn: &mut dyn FnMut(String)) -> Result<EnvFile> {
    let mut env = EnvFile { legacy: true, ..EnvFile::default() };
    let mut skipping = false;
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let start = line.iter().position(|b| *b == b'=').and_then(|eq| {
            let name = std::str::from_utf8(&line[..eq]).ok()?;
            (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| (name.to_string(), eq))
        });
        match start {
            Some((name, eq)) if is_name(&name) => {
                skipping = false;
                if env.vars.iter().any(|(v, _)| *v == name) {
                    warn(format!("{origin}: line {n}: {name} is set twice; the later value is kept"));
                    env.vars.retain(|(v, _)| *v != name);
                }
                env.vars.push((name, line[eq + 1..].to_vec()));
            }
            Some((name, _)) => {
                warn(format!("{origin}: line {n}: {name:?} is not a shell variable name; skipped"));
                skipping = true;
            }
            None if skipping => {}
            None => match env.vars.last_mut() {
                Some((name, value)) => {
                    warn(format!(
                        "{origin}: line {n} continues the value of {name}: in an `env >` file a value with a newline cannot be told from the lines after it; read as one value"
                    ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &[u8]) {
        let env =
            EnvFile { vars: vec![("V".into(), value.to_vec())], unset: vec!["GONE".into()], legacy: false };
        let text = shell_text(&env).unwrap();
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
            b"$(touch pwned) `id` ${X} $HOME",
            b"\\\\n\\",
            "caf\u{e9} \u{1f600}".as_bytes(),
            b"\xff\xfe not utf-8",
            b"# not a comment",
            b"export X=1",
        ] {
            round_trip(v);
        }
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "1A", "A-B", "A B", "A=B", "BASH_FUNC_f%%"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for good in ["A", "_", "_a1", "DB_HOST"] {
            check_name(good).unwrap();
        }
        let e = parse(b"export 1A=x\n", "f", &mut |_| {}).unwrap_err();
        assert!(e.message().starts_with("f: line 1: \"1A\" is not a shell variable name"), "{e}");
        let e = parse(b"export A='x\n", "f", &mut |_| {}).unwrap_err();
        assert!(e.message().contains("never closed"), "{e}");
        let e = parse(b"export A=1\nrm -rf /\n", "f", &mut |_| {}).unwrap_err();
        assert!(e.message().contains("expected `export` or `unset`, found \"rm\""), "{e}");
    }

    #[test]
    fn seed_backups_are_read_with_warnings_where_ambiguous() {
        let mut warnings = Vec::new();
        let env =
            parse(b"A=1\nB=x=y\nMULTI=line1\nline2\nBASH_FUNC_f%%=() {  echo hi\n}\nC=\n", "old", &mut |w| {
                warnings.push(w)
            })
            .unwrap();
        assert!(env.legacy);
        let got: Vec<(&str, &[u8])> = env.vars.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        assert_eq!(got, [("A", &b"1"[..]), ("B", b"x=y"), ("MULTI", b"line1\nline2"), ("C", b"")]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("line 4 continues the value of MULTI"), "{warnings:?}");
        assert!(warnings[1].contains("\"BASH_FUNC_f%%\" is not a shell variable name"), "{warnings:?}");
    }
}
