//! nginx's configuration as rb reads it: the files `nginx -T` shows, their directives, and
//! the `nginx` set computed from them.
//!
//! A real nginx is more than `nginx.conf`: `include conf.d/*.conf;` and `include mime.types;`
//! pull in the sites, snippets name more, and `ssl_certificate`, `ssl_certificate_key`,
//! `ssl_dhparam` and `auth_basic_user_file` name files it reads too. A snapshot that holds
//! only `nginx.conf` "rolls back" a bad site edit while nginx keeps serving it. So the
//! built-in `nginx` set is computed when the snapshot is taken ([`set_specs`]): the files
//! nginx reads inside the project, each `include` pattern as a glob (a restore then removes a
//! `conf.d` file added since), and `nginx/ssl/`. The files come from the configured `nginx
//! -T` when it passes and reads this project's `nginx/nginx.conf`; otherwise (a broken
//! configuration, another nginx, none installed) from `nginx/nginx.conf` and its includes on
//! disk, read the way nginx reads them. A restore never needs either: it follows the paths
//! and globs its snapshot recorded. Runtime files (the pid file, logs, temp paths) are never
//! part of it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::config::{Config, FILE, NGINX_CONF};
use crate::error::Result;
use crate::exec;
use crate::manifest::is_glob;
use crate::ui::{note, warn};

/// The project's nginx folder: relative paths in nginx.conf are relative to it.
pub const DIR: &str = "nginx";

/// The folder the built-in `nginx` set holds whole.
pub const SSL_DIR: &str = "nginx/ssl/";

/// The directives that name a file nginx reads (besides `include`).
const FILE_DIRECTIVES: &[&str] =
    &["ssl_certificate", "ssl_certificate_key", "ssl_dhparam", "auth_basic_user_file"];

/// The directives that name what nginx writes: never part of a set.
const RUNTIME_DIRECTIVES: &[&str] = &[
    "pid",
    "error_log",
    "access_log",
    "client_body_temp_path",
    "proxy_temp_path",
    "fastcgi_temp_path",
    "uwsgi_temp_path",
    "scgi_temp_path",
    "proxy_cache_path",
    "fastcgi_cache_path",
    "uwsgi_cache_path",
    "scgi_cache_path",
];

/// The files in `nginx -T` output: `# configuration file PATH:` then the text.
pub fn config_files(dump: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in dump.split_inclusive('\n') {
        let header = line.trim_end().strip_prefix("# configuration file ").and_then(|l| l.strip_suffix(':'));
        match (header, files.last_mut()) {
            (Some(path), _) => files.push((path.to_string(), String::new())),
            (None, Some((_, text))) => text.push_str(line),
            (None, None) => {}
        }
    }
    files
}

/// One simple directive (`name args…;`) or block opener (`name args… {`), its words unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// How many blocks it is inside (0: the file's top level).
    pub depth: usize,
    /// The directive's name and arguments.
    pub words: Vec<String>,
}

/// The statements of a configuration file, as nginx tokenizes it: `#` comments, `"…"` and
/// `'…'` quotes with backslash escapes, `;`, `{` and `}` (a `${var}` is part of its word).
pub fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let end_word = |word: &mut Option<String>, words: &mut Vec<String>| {
        if let Some(w) = word.take() {
            words.push(w);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' if word.is_none() => {
                let mut w = String::new();
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => w.extend(chars.next()),
                        q if q == c => break,
                        q => w.push(q),
                    }
                }
                words.push(w);
            }
            '#' if word.is_none() => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '$' if chars.peek() == Some(&'{') => {
                let w = word.get_or_insert_with(String::new);
                w.push('$');
                for n in chars.by_ref() {
                    w.push(n);
                    if n == '}' {
                        break;
                    }
                }
            }
            ';' | '{' | '}' => {
                end_word(&mut word, &mut words);
                if !words.is_empty() {
                    out.push(Statement { depth, words: std::mem::take(&mut words) });
                }
                match c {
                    '{' => depth += 1,
                    '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            c if c.is_whitespace() => end_word(&mut word, &mut words),
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out
}

/// The first argument of the main context's `pid` and `error_log` directives.
pub fn top_level(conf: &str) -> (Option<String>, Option<String>) {
    let (mut pid, mut log) = (None, None);
    for s in statements(conf).into_iter().filter(|s| s.depth == 0) {
        match s.words.as_slice() {
            [name, value, ..] if name == "pid" => pid = Some(value.clone()),
            [name, value, ..] if name == "error_log" && log.is_none() => log = Some(value.clone()),
            _ => {}
        }
    }
    (pid, log)
}

/// The nginx set of the project at `root`, as computed from the files nginx reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Computed {
    /// The set's paths and globs, project-relative: `nginx/nginx.conf`, the include globs,
    /// the files (each sorted), then `nginx/ssl/` for the nginx set.
    pub specs: Vec<String>,
    /// Files nginx reads outside the project (named in a warning, not part of the set).
    pub outside: Vec<String>,
}

/// Where relative names in the configuration lead, and what lies in the project.
struct Layout<'a> {
    root: &'a Path,
    canonical_root: PathBuf,
    /// The folder of the main configuration file as nginx names it (relative includes and
    /// file names are relative to it): it is the project's `nginx/`.
    conf_dir: PathBuf,
    /// The `-p` prefix of the command, if any: runtime paths are relative to it.
    prefix: Option<PathBuf>,
}

impl Layout<'_> {
    fn absolute(&self, name: &str) -> PathBuf {
        let path = Path::new(name);
        if path.is_absolute() { path.to_path_buf() } else { self.conf_dir.join(path) }
    }

    /// The project-relative path nginx's `path` is, or `None` outside the project.
    fn project_rel(&self, path: &Path) -> Option<String> {
        let clean = |rel: &Path| -> Option<String> {
            let parts: Option<Vec<&str>> = rel
                .components()
                .map(|c| match c {
                    std::path::Component::Normal(p) => p.to_str(),
                    _ => None,
                })
                .collect();
            parts.filter(|p| !p.is_empty()).map(|p| p.join("/"))
        };
        // `include ../common/x.conf` is nginx's own path arithmetic: resolve the `..` first, so
        // a file beside `nginx/` in the project is in the project.
        let path = &lexical(path);
        if let Ok(rest) = path.strip_prefix(&self.conf_dir) {
            return clean(rest).map(|r| format!("{DIR}/{r}"));
        }
        for root in [self.root, self.canonical_root.as_path()] {
            if let Ok(rest) = path.strip_prefix(root) {
                return clean(rest);
            }
        }
        None
    }
}

/// `path` with `.` and `..` resolved by name (a `..` of the root stays at the root), as nginx
/// joins a relative `include` to its prefix.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Computes the nginx set of the project at `root` (see the module docs). `command` is the
/// configured nginx (`None`: do not run it, read the files on disk). `with_ssl` adds the
/// `nginx/ssl/` folder (the `nginx` set; the `config` set names the files only).
pub fn compute(root: &Path, command: Option<&[String]>, with_ssl: bool) -> Result<Computed> {
    let conf_dir = root.join(DIR);
    let live = fs::read_to_string(root.join(NGINX_CONF)).ok();
    let mut files: Option<(PathBuf, Vec<(PathBuf, String)>)> = None;
    if let (Some(argv), Some(live)) = (command, &live) {
        let mut dump_argv = argv.to_vec();
        dump_argv.push("-T".to_string());
        let shown = exec::display(&dump_argv);
        let why = match exec::run(&dump_argv, root, &format!("nginx.command in {FILE}")) {
            Err(e) => Some(e.message().to_string()),
            Ok(out) if !out.ok() => Some(format!("`{shown}` failed ({}): {}", out.status(), out.summary())),
            Ok(out) => {
                let dumped = config_files(&out.stdout);
                match dumped.first() {
                    Some((main, text)) if text.trim_end() == live.trim_end() => {
                        let dir =
                            Path::new(main).parent().map_or_else(|| conf_dir.clone(), Path::to_path_buf);
                        files = Some((dir, dumped.into_iter().map(|(p, t)| (PathBuf::from(p), t)).collect()));
                        None
                    }
                    Some((main, _)) => {
                        Some(format!("`{shown}` reads {main}, not this project's {NGINX_CONF}"))
                    }
                    None => Some(format!("`{shown}` showed no configuration file")),
                }
            }
        };
        if let Some(why) = why {
            note(&format!("{why}: the nginx set follows {NGINX_CONF} and its includes on disk"));
        }
    }
    let prefix = command.and_then(|argv| {
        argv.iter().position(|a| a == "-p").and_then(|i| argv.get(i + 1)).map(|p| root.join(p))
    });
    let (conf_dir, files) = match files {
        Some(found) => found,
        None => {
            let layout =
                Layout { root, canonical_root: canonical(root), conf_dir: conf_dir.clone(), prefix: None };
            (conf_dir.clone(), read_from_disk(&layout, live))
        }
    };
    let layout = Layout { root, canonical_root: canonical(root), conf_dir, prefix };
    Ok(from_files(&layout, &files, with_ssl))
}

fn canonical(root: &Path) -> PathBuf {
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// `nginx.conf` and what it includes, read from disk as nginx would (includes relative to the
/// configuration's folder, glob patterns expanded), each file once.
fn read_from_disk(layout: &Layout, main: Option<String>) -> Vec<(PathBuf, String)> {
    let Some(main) = main else { return Vec::new() };
    let mut files = vec![(layout.conf_dir.join("nginx.conf"), main)];
    let mut seen: BTreeSet<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let mut at = 0;
    // nginx itself stops at a include depth of about 100; a cycle ends here at 1000 files.
    while at < files.len() && files.len() < 1000 {
        let includes: Vec<PathBuf> = statements(&files[at].1)
            .into_iter()
            .filter(|s| s.words.len() == 2 && s.words[0] == "include")
            .flat_map(|s| expand(&layout.absolute(&s.words[1])))
            .collect();
        for path in includes {
            if seen.insert(path.clone())
                && let Ok(text) = fs::read_to_string(&path)
            {
                files.push((path, text));
            }
        }
        at += 1;
    }
    files
}

/// The files a pattern names now: its glob matches (sorted), or the path itself if it is a file.
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let text = pattern.to_string_lossy();
    if !is_glob(&text) {
        return if pattern.is_file() { vec![pattern.to_path_buf()] } else { Vec::new() };
    }
    let mut hits: Vec<PathBuf> = glob::glob(&text)
        .map(|g| g.filter_map(|h| h.ok()).filter(|h| h.is_file()).collect())
        .unwrap_or_default();
    hits.sort();
    hits
}

fn from_files(layout: &Layout, files: &[(PathBuf, String)], with_ssl: bool) -> Computed {
    let mut globs: Vec<String> = Vec::new();
    let mut literals: Vec<String> = Vec::new();
    let mut outside: BTreeSet<String> = BTreeSet::new();
    let mut runtime: BTreeSet<String> = BTreeSet::new();
    let add = |path: &Path, literals: &mut Vec<String>, outside: &mut BTreeSet<String>| match layout
        .project_rel(path)
    {
        Some(rel) => literals.push(rel),
        None => {
            outside.insert(path.display().to_string());
        }
    };
    for (i, (path, text)) in files.iter().enumerate() {
        if i > 0 {
            add(path, &mut literals, &mut outside);
        }
        for s in statements(text) {
            let [name, args @ ..] = s.words.as_slice() else { continue };
            let Some(value) = args.first() else { continue };
            if name == "include" {
                let pattern = layout.absolute(value);
                match (is_glob(value), layout.project_rel(&pattern)) {
                    (true, Some(rel)) => globs.push(rel),
                    (false, Some(rel)) => literals.push(rel),
                    // Outside the project: its files are named below, as nginx read them.
                    (_, None) => {
                        for hit in expand(&pattern) {
                            outside.insert(hit.display().to_string());
                        }
                    }
                }
            } else if FILE_DIRECTIVES.contains(&name.as_str()) {
                if value.contains('$') || value.starts_with("data:") || value.starts_with("engine:") {
                    continue;
                }
                add(&layout.absolute(value), &mut literals, &mut outside);
            } else if RUNTIME_DIRECTIVES.contains(&name.as_str()) {
                let path = Path::new(value);
                let mut candidates = vec![layout.absolute(value)];
                if let Some(prefix) = &layout.prefix
                    && path.is_relative()
                {
                    candidates.push(prefix.join(path));
                }
                runtime.extend(candidates.iter().filter_map(|c| layout.project_rel(c)));
            }
        }
    }
    let covered_by = |rel: &str, specs: &[String]| {
        specs.iter().any(|g| glob::Pattern::new(g).is_ok_and(|p| p.matches_with(rel, strict())))
    };
    let is_runtime = |rel: &str| runtime.iter().any(|r| rel == r || crate::paths::is_under(rel, r));
    let ssl = SSL_DIR.trim_end_matches('/');
    // Sorted, so the set reads the same whichever order nginx met the files in.
    globs.sort();
    literals.sort();
    let mut specs = vec![NGINX_CONF.to_string()];
    let push = |spec: String, specs: &mut Vec<String>| {
        if !specs.contains(&spec) && !is_runtime(&spec) {
            specs.push(spec);
        }
    };
    for g in globs {
        push(g, &mut specs);
    }
    for rel in literals {
        let in_ssl = with_ssl && crate::paths::is_under(&rel, ssl);
        if !in_ssl && !covered_by(&rel, &specs) {
            push(rel, &mut specs);
        }
    }
    if with_ssl {
        push(SSL_DIR.to_string(), &mut specs);
    }
    Computed { specs, outside: outside.into_iter().collect() }
}

/// Glob matching as the snapshot expands them: `*` never crosses a `/`.
fn strict() -> glob::MatchOptions {
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    }
}

/// The paths and globs of set `name` for a snapshot of the project at `root`: as configured,
/// except the built-in `nginx` set, computed from what nginx reads, and the built-in `config`
/// set, whose `nginx/nginx.conf` expands the same way (without the `nginx/ssl/` folder). A
/// set written in `rollback.toml` is taken as written. Files nginx reads outside the project
/// are named in a warning.
pub fn set_specs(config: &Config, name: &str, root: &Path) -> Result<Vec<String>> {
    let paths = config.set(name)?.paths.clone();
    let computed = !config.written.contains(name) && paths.iter().any(|p| p == NGINX_CONF);
    if !computed || !matches!(name, "nginx" | "config") {
        return Ok(paths);
    }
    // The nginx set asks the configured (or default) nginx; the config set only once
    // [nginx] says which nginx is the project's.
    let command = match name == "nginx" || config.other.contains_key("nginx") {
        true => Some(config.nginx()?.command),
        false => None,
    };
    let nginx = compute(root, command.as_deref(), name == "nginx")?;
    for file in &nginx.outside {
        warn(&format!("nginx reads {file}, outside the project: it is not part of the {name} set"));
    }
    let mut specs = Vec::new();
    for p in paths {
        if p == NGINX_CONF {
            specs.extend(nginx.specs.iter().cloned());
        } else if !specs.contains(&p) {
            specs.push(p);
        }
    }
    specs.dedup();
    Ok(specs)
}

/// What [`test_staged`] did.
#[derive(Debug, Clone)]
pub enum Staged {
    /// `nginx -t` ran on the staged copy.
    Tested {
        /// The command as run (`nginx -t -p STAGING/prefix/ -c STAGING/nginx/nginx.conf`).
        argv: Vec<String>,
        /// Project paths the configuration names absolutely: nginx read those as they are
        /// now, not as the snapshot has them.
        absolute: Vec<String>,
        /// What nginx said.
        output: exec::Output,
    },
    /// It could not run there, and why (the configured command is not an nginx this machine
    /// runs, or there is no nginx.conf to test).
    Skipped(String),
}

/// Tests the nginx configuration a restore of `snap` would leave, before the restore: a
/// staging folder gets the project's `nginx/` as it is (each file a link to the live one),
/// with the snapshot's files of `nginx/` copied over them and `removed` (what the restore
/// removes) left out, and the configured nginx runs `-t` with `-p` and `-c` pointed there
/// (the folders of relative runtime paths, `logs/`, made under the staged prefix). The
/// project's other top-level entries are linked beside it, so `../x` resolves as it will. A
/// configuration that names project files by absolute path reads them as they are: those
/// paths are returned, for the caller to name.
pub fn test_staged(
    command: &[String],
    root: &Path,
    snap: &crate::store::Snapshot,
    removed: &[String],
) -> Result<Staged> {
    use crate::error::Context;
    let Some(program) = command.first() else {
        return Err(crate::error::usage(format!("{FILE}: [nginx] command is empty")));
    };
    let file_name = Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !file_name.ends_with("nginx") {
        return Ok(Staged::Skipped(format!(
            "`{}` is not an nginx that can be pointed at a staging folder",
            exec::display(command)
        )));
    }
    let in_snapshot = snap.manifest.entries.iter().any(|e| e.path == NGINX_CONF);
    if !in_snapshot && !root.join(NGINX_CONF).is_file() {
        return Ok(Staged::Skipped(format!("there is no {NGINX_CONF} to test")));
    }
    let staging = tempfile::Builder::new()
        .prefix("rb-nginx-staged.")
        .tempdir()
        .ctx(|| "creating a staging folder for nginx -t".to_string())?;
    let stage = staging.path();
    stage_tree(root, stage, snap, removed)?;
    let run_prefix = stage.join(".rb-prefix");
    let absolute = prepare_and_scan(root, &stage.join(DIR), &run_prefix)?;
    let argv = staged_argv(command, &run_prefix, &stage.join(NGINX_CONF));
    // nginx's messages name the staged files by the project paths they stand for.
    let output = exec::run(&argv, root, &format!("nginx.command in {FILE}"))?
        .replaced(&format!("{}/", run_prefix.display()), "")
        .replaced(&format!("{}/", stage.display()), "");
    Ok(Staged::Tested { argv, absolute, output })
}

/// Fills `stage` with the project as nginx will see it after the restore of `snap`: the
/// project's top-level entries linked, `nginx/` as it is, the snapshot's files over it, and
/// what the restore removes gone.
fn stage_tree(root: &Path, stage: &Path, snap: &crate::store::Snapshot, removed: &[String]) -> Result<()> {
    use crate::error::{Context, failed};
    use crate::manifest::Node;
    let link = |from: &Path, to: &Path| -> Result<()> {
        std::os::unix::fs::symlink(from, to)
            .ctx(|| format!("linking {} into the staging folder", from.display()))
    };
    // The project around nginx/, as it is.
    for entry in fs::read_dir(root).ctx(|| format!("reading {}", root.display()))? {
        let entry = entry.ctx(|| format!("reading {}", root.display()))?;
        if entry.file_name() != DIR {
            link(&entry.path(), &stage.join(entry.file_name()))?;
        }
    }
    let live = root.join(DIR);
    let staged = stage.join(DIR);
    fs::create_dir_all(&staged).ctx(|| format!("creating {}", staged.display()))?;
    if live.is_dir() {
        for entry in walkdir::WalkDir::new(&live).min_depth(1).follow_links(false) {
            let entry = entry.map_err(|e| failed(format!("reading {}: {e}", live.display())))?;
            let Ok(rel) = entry.path().strip_prefix(&live) else { continue };
            let to = staged.join(rel);
            if entry.file_type().is_dir() {
                fs::create_dir_all(&to).ctx(|| format!("creating {}", to.display()))?;
            } else {
                link(entry.path(), &to)?;
            }
        }
    }
    // The snapshot's files over them; what the restore removes, gone.
    let prefix = format!("{DIR}/");
    for e in snap.manifest.entries.iter().filter(|e| e.path.starts_with(&prefix)) {
        let to = stage.join(&e.path);
        if fs::symlink_metadata(&to).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&to).ctx(|| format!("replacing {}", to.display()))?;
        }
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
        }
        match &e.node {
            Node::Dir { .. } => fs::create_dir_all(&to).ctx(|| format!("creating {}", to.display()))?,
            Node::File { .. } => {
                fs::copy(snap.source(&e.path), &to).ctx(|| format!("staging {}", e.path))?;
            }
            Node::Symlink { target } => link(Path::new(target), &to)?,
            // A fifo or device node in nginx/ is nothing nginx -t reads.
            Node::Fifo { .. } | Node::Char { .. } | Node::Block { .. } => {}
        }
    }
    for rel in removed.iter().filter(|r| r.starts_with(&prefix)) {
        let to = stage.join(rel);
        match fs::symlink_metadata(&to) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&to).ctx(|| format!("removing {}", to.display()))?,
            Ok(_) => fs::remove_file(&to).ctx(|| format!("removing {}", to.display()))?,
            Err(_) => {}
        }
    }
    Ok(())
}

/// Makes the runtime folders the staged configuration names (under `run_prefix`) and returns
/// the project paths it names absolutely.
fn prepare_and_scan(root: &Path, staged: &Path, run_prefix: &Path) -> Result<Vec<String>> {
    use crate::error::Context;
    // What the staged configuration names: runtime folders to make, project paths named
    // absolutely.
    fs::create_dir_all(run_prefix.join("logs")).ctx(|| "creating the staged prefix".to_string())?;
    let roots: Vec<String> =
        [root.to_path_buf(), canonical(root)].iter().map(|r| format!("{}/", r.display())).collect();
    let mut absolute = BTreeSet::new();
    for file in walkdir::WalkDir::new(staged).follow_links(true).into_iter().flatten() {
        if !file.file_type().is_file() || file.metadata().map_or(true, |m| m.len() > 1 << 20) {
            continue;
        }
        let Ok(text) = fs::read_to_string(file.path()) else { continue };
        for st in statements(&text) {
            let Some(value) = st.words.get(1) else { continue };
            for word in &st.words[1..] {
                if roots.iter().any(|r| word.starts_with(r.as_str())) {
                    absolute.insert(word.clone());
                }
            }
            let runtime = RUNTIME_DIRECTIVES.contains(&st.words[0].as_str());
            if runtime
                && !value.starts_with('/')
                && !value.contains(':')
                && value != "off"
                && value != "stderr"
            {
                // nginx makes a temp or cache folder itself, and a log or pid file, but not
                // the folder either is in.
                if let Some(dir) = run_prefix.join(value).parent() {
                    let _ = fs::create_dir_all(dir);
                }
            }
        }
    }
    Ok(absolute.into_iter().collect())
}

/// The nginx command pointed at the staging folder: `-t -p PREFIX/ -c CONF`, the user's own
/// `-p`, `-c`, `-t`, `-T` and `-q` dropped.
fn staged_argv(command: &[String], run_prefix: &Path, conf: &Path) -> Vec<String> {
    let mut argv = vec![command[0].clone()];
    let mut rest = command[1..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-p" | "-c" => {
                rest.next();
            }
            "-t" | "-T" | "-q" => {}
            _ => argv.push(arg.clone()),
        }
    }
    argv.extend([
        "-t".to_string(),
        "-p".to_string(),
        format!("{}/", run_prefix.display()),
        "-c".to_string(),
        conf.display().to_string(),
    ]);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_as_nginx_reads_them() {
        let conf = "worker_processes 1; # pid nope;\npid  \"run/x.pid\";\nerror_log logs/e.log warn;\nhttp {\n error_log inner.log;\n include 'conf.d/*.conf';\n server { pid no; return 200 \"a;b # c\"; set $x ${y}z; }\n}\n";
        assert_eq!(top_level(conf), (Some("run/x.pid".to_string()), Some("logs/e.log".to_string())));
        let all = statements(conf);
        assert!(all.contains(&Statement { depth: 1, words: vec!["include".into(), "conf.d/*.conf".into()] }));
        assert!(
            all.contains(&Statement {
                depth: 2,
                words: vec!["return".into(), "200".into(), "a;b # c".into()]
            })
        );
        assert!(
            all.contains(&Statement { depth: 2, words: vec!["set".into(), "$x".into(), "${y}z".into()] })
        );
        let dump = "# configuration file /a/nginx.conf:\nevents {}\ninclude b.conf;\n\n# configuration file /a/b.conf:\nx;\n";
        let files = config_files(dump);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], ("/a/nginx.conf".to_string(), "events {}\ninclude b.conf;\n\n".to_string()));
    }

    #[test]
    fn the_set_is_what_the_files_name() {
        let root = Path::new("/srv/p");
        let layout = Layout {
            root,
            canonical_root: root.to_path_buf(),
            conf_dir: PathBuf::from("/etc/nginx"),
            prefix: Some(PathBuf::from("/srv/p/nginx")),
        };
        let files = vec![
            (
                PathBuf::from("/etc/nginx/nginx.conf"),
                "pid run/nginx.pid; http { include mime.types; include /usr/share/x/*.conf; include conf.d/*.conf; client_body_temp_path temp/body; }".to_string(),
            ),
            (PathBuf::from("/etc/nginx/mime.types"), "types {}".to_string()),
            (
                PathBuf::from("/etc/nginx/conf.d/site.conf"),
                "server { include snippets/a.conf; ssl_certificate ssl/c.pem; ssl_certificate_key $k; auth_basic_user_file htpasswd; ssl_dhparam /etc/ssl/dh.pem; }"
                    .to_string(),
            ),
            (PathBuf::from("/etc/nginx/snippets/a.conf"), String::new()),
            (PathBuf::from("/etc/nginx/temp/body"), String::new()),
        ];
        let got = from_files(&layout, &files, true);
        assert_eq!(
            got.specs,
            [
                "nginx/nginx.conf",
                "nginx/conf.d/*.conf",
                "nginx/htpasswd",
                "nginx/mime.types",
                "nginx/snippets/a.conf",
                "nginx/ssl/"
            ]
        );
        assert_eq!(got.outside, ["/etc/ssl/dh.pem"]);
        let got = from_files(&layout, &files, false);
        assert!(
            got.specs.contains(&"nginx/ssl/c.pem".to_string()) && !got.specs.contains(&SSL_DIR.to_string())
        );
    }
}
