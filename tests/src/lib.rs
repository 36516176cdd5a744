//! The test harness of rb: a project in a temporary folder, the built binaries run against it
//! with a cleared environment, and checks whose failure prints everything.
//!
//! ```no_run
//! use rb_tests::Scenario;
//! let s = Scenario::helpdesk();
//! let before = s.tree();
//! s.cmd("rb-restore").arg("../x").run().code_is(2).stderr_has("not a snapshot");
//! s.tree().assert_same(&before);
//! ```
//!
//! Binaries are found through `RB_BIN_DIR`, or next to the test executable (`target/debug`);
//! `make test` builds them first (`cargo build --workspace --bins`). A missing binary fails
//! the test loudly: it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub mod docker;
pub mod docs;
pub mod moto;
pub mod nginx;
pub mod postgres;
pub mod standin;

use docs::Document;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The fixed clock of every command unless a test sets `RB_NOW` itself.
pub const NOW: &str = "2025-10-13T12:00:00Z";
/// The id stamp that [`NOW`] gives (the scenarios run with `TZ=UTC`).
pub const STAMP: &str = "20251013_120000";

/// The folder of the built rb binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RB_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/debug/deps/it-HASH → target/debug
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// The path of a built binary, or a panic that says how to build it.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, which `make test` does) or set RB_BIN_DIR",
        path.display()
    );
    path
}

/// The tests' Python, with the pinned packages of `tests/requirements.txt` (Django…):
/// `.venv/bin/python`, which `make test` creates; a missing one fails loudly.
pub fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: `make test` creates it (scripts/deps.sh: python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt)",
        python.display()
    );
    python
}

/// The repository's root (for fixtures and `compat/`).
/// The nine rb tools, in the README's order.
pub const TOOLS: [&str; 9] = [
    "rb-snapshot",
    "rb-restore",
    "rb-nginx",
    "rb-envfile",
    "rb-migrate",
    "rb-flag",
    "rb-secret",
    "rb-deploy",
    "rb-emergency",
];

/// Asserts that no restore is left half-done: no staged `.rb-tmp.*` file in the live tree, no
/// journal.
#[track_caller]
pub fn no_restore_leftovers(s: &Scenario) {
    let staged: Vec<String> = s
        .live()
        .0
        .into_keys()
        .filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(".rb-tmp.")))
        .collect();
    assert!(staged.is_empty(), "staged files left behind: {staged:?}");
    assert!(!s.exists("backups/.rb/journal.json"), "the journal is still there");
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A project in a temporary folder: `root/` is the project, `home/`, `tmp/` and `bin/` (first
/// on `PATH`) belong to the scenario.
pub struct Scenario {
    _dir: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

impl Scenario {
    /// An empty project.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("rb-test.").tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        for sub in ["root", "home", "tmp", "bin", "outside"] {
            fs::create_dir(base.join(sub)).unwrap();
        }
        Scenario { root: base.join("root"), base, _dir: dir }
    }

    /// A copy of `tests/fixtures/helpdesk` (the seed's layout), with fixed mtimes and the
    /// TLS key at 0600 as it would be on a server.
    pub fn helpdesk() -> Self {
        let s = Self::new();
        copy_tree(&repo().join("tests/fixtures/helpdesk"), &s.root);
        s.chmod("nginx/ssl/helpdesk.key", 0o600);
        s.chmod("manage.py", 0o755);
        let mut paths = Vec::new();
        walk(&s.root, &mut |p, _| paths.push(p.to_path_buf()));
        paths.sort_by(|a, b| b.cmp(a));
        for p in paths {
            let t = filetime::FileTime::from_unix_time(1_760_000_000, 0);
            filetime::set_symlink_file_times(&p, t, t).unwrap();
        }
        s
    }

    /// The helpdesk project as a live Django project: `rollback.toml` points `[django]` at
    /// the tests' Python (`.venv`, made by `make test`) and the SQLite database is migrated.
    pub fn django() -> Self {
        let s = Self::helpdesk();
        s.write("rollback.toml", format!("[django]\npython = \"{}\"\n", python().display()));
        s.manage(&["migrate", "-v", "0"]).success();
        s
    }

    /// `python manage.py ARGS…` with the tests' Python.
    pub fn manage(&self, args: &[&str]) -> Run {
        self.program(python()).arg("manage.py").args(args.iter().copied()).run()
    }

    /// The database's schema (`sqlite3 FILE .schema`), one statement a line, sorted (a table
    /// made again comes later in `.schema`): for before/after comparisons.
    pub fn schema_of(&self, db: &str) -> String {
        let text = self.program("sqlite3").args([db, ".schema"]).run().success().stdout();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        lines.join("\n")
    }

    /// [`Scenario::schema_of`] the project's `db.sqlite3`.
    pub fn schema(&self) -> String {
        self.schema_of("db.sqlite3")
    }

    /// A folder outside the project (for symlinks that lead out).
    pub fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    /// Writes a file, creating its folders.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        self
    }

    pub fn append(&self, rel: &str, content: &str) -> &Self {
        let mut f = fs::OpenOptions::new().append(true).open(self.path(rel)).unwrap();
        f.write_all(content.as_bytes()).unwrap();
        self
    }

    pub fn mkdir(&self, rel: &str) -> &Self {
        fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    pub fn remove(&self, rel: &str) -> &Self {
        let p = self.path(rel);
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
        self
    }

    pub fn symlink(&self, rel: &str, target: impl AsRef<Path>) -> &Self {
        std::os::unix::fs::symlink(target, self.path(rel)).unwrap();
        self
    }

    pub fn chmod(&self, rel: &str, mode: u32) -> &Self {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Sets a path's mtime (seconds and nanoseconds), without following a symlink.
    pub fn touch(&self, rel: &str, secs: i64, nanos: u32) -> &Self {
        let t = filetime::FileTime::from_unix_time(secs, nanos);
        filetime::set_symlink_file_times(self.path(rel), t, t).unwrap();
        self
    }

    /// An rb tool, run in the project root with the scenario's environment.
    pub fn cmd(&self, tool: &str) -> Cmd {
        Cmd::new(bin(tool), self)
    }

    /// Any program (a compat script, `sha256sum`), with the scenario's environment and the rb
    /// binaries' folder on `PATH`.
    pub fn program(&self, program: impl Into<PathBuf>) -> Cmd {
        Cmd::new(program.into(), self)
    }

    /// The digest of the whole project tree.
    pub fn tree(&self) -> Tree {
        Tree::of(&self.root)
    }

    /// The project tree without the store: what the live files are.
    pub fn live(&self) -> Tree {
        self.tree().without(&["backups"])
    }

    /// The `backups/rollback.log` events, each checked to be an [`docs::Event`] (every field
    /// known) and given as its JSON value.
    pub fn events(&self) -> Vec<Value> {
        let check = |l: &str| match docs::from_line::<docs::Event>(l) {
            Ok(_) => serde_json::from_str(l).unwrap(),
            Err(e) => panic!("backups/rollback.log: {e}"),
        };
        match fs::read_to_string(self.path("backups/rollback.log")) {
            Ok(text) => text.lines().map(check).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A file that cannot be removed while this lives: immutable (`chattr +i`) when the tests run
/// as root, whom permissions do not stop; else its folder made read-only. Dropped, it is
/// removable again (so the scenario's folder can go).
pub struct Unremovable {
    path: PathBuf,
    root: bool,
}

impl Unremovable {
    pub fn new(path: PathBuf) -> Self {
        let root = rustix::process::geteuid().is_root();
        if root {
            let ok = Command::new("chattr").arg("+i").arg(&path).status().is_ok_and(|s| s.success());
            assert!(
                ok,
                "chattr +i {} failed: the tests need chattr (e2fsprogs) when run as root",
                path.display()
            );
        } else {
            fs::set_permissions(path.parent().unwrap(), fs::Permissions::from_mode(0o555)).unwrap();
        }
        Unremovable { path, root }
    }

    /// The file is now at `path` (its folder was moved).
    pub fn moved_to(&mut self, path: PathBuf) {
        self.path = path;
    }
}

impl Drop for Unremovable {
    fn drop(&mut self) {
        if self.root {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        } else if let Some(parent) = self.path.parent() {
            let _ = fs::set_permissions(parent, fs::Permissions::from_mode(0o755));
        }
    }
}

/// Copies a tree (files, folders, symlinks), for fixtures.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            fs::create_dir_all(&dst).unwrap();
            copy_tree(&src, &dst);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Copies a tree with modes and nanosecond mtimes (folders' too): a second, identical
/// project to try another way from the same state.
pub fn copy_tree_exact(from: &Path, to: &Path) {
    copy_tree(from, to);
    let mut paths = Vec::new();
    walk(from, &mut |p, _| paths.push(p.to_path_buf()));
    paths.sort_by(|a, b| b.cmp(a));
    for p in paths {
        let rel = p.strip_prefix(from).unwrap();
        let meta = fs::symlink_metadata(&p).unwrap();
        let dst = to.join(rel);
        if !meta.file_type().is_symlink() {
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777)).unwrap();
        }
        let t = filetime::FileTime::from_last_modification_time(&meta);
        filetime::set_symlink_file_times(&dst, t, t).unwrap();
    }
}

/// The extended attributes of `path` that rb keeps and restores (`user.*`, the POSIX ACLs,
/// file capabilities; not `security.selinux` and the like, which belong to the system), by
/// name; none on a file system without them. Never follows a symlink.
fn read_xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    use rustix::io::Errno;
    let kept = |n: &str| {
        n.starts_with("user.")
            || ["security.capability", "system.posix_acl_access", "system.posix_acl_default"].contains(&n)
    };
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 1 << 16];
    let len = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(Errno::NOTSUP | Errno::NODATA) => return out,
        Err(e) => panic!("listing the extended attributes of {}: {e}", path.display()),
    };
    for name in names[..len].split(|b| *b == 0).filter_map(|n| std::str::from_utf8(n).ok()) {
        if !kept(name) {
            continue;
        }
        let mut value = vec![0u8; 1 << 16];
        match rustix::fs::lgetxattr(path, name, &mut value[..]) {
            Ok(n) => {
                value.truncate(n);
                out.insert(name.to_string(), value);
            }
            Err(Errno::NOTSUP | Errno::NODATA) => {}
            Err(e) => panic!("reading the extended attribute {name} of {}: {e}", path.display()),
        }
    }
    out
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &fs::Metadata)) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let meta = fs::symlink_metadata(&p).unwrap();
        visit(&p, &meta);
        if meta.is_dir() {
            walk(&p, visit);
        }
    }
}

/// A digest of a tree: for every path, its type, mode, mtime (ns), content hash or link
/// target, and extended attributes (ACLs, capabilities, `user.*`). Two equal trees are byte
/// for byte the same, metadata included (owners and hard links are checked where a test needs
/// them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<String, String>);

impl Tree {
    pub fn of(root: &Path) -> Tree {
        let mut map = BTreeMap::new();
        walk(root, &mut |p, meta| {
            // A name that is not UTF-8 is listed escaped, as rb shows it.
            let rel = p.strip_prefix(root).unwrap().as_os_str();
            let rel = docs::escaped(rel.as_bytes());
            let mode = meta.mode() & 0o7777;
            let mtime = format!("{}.{:09}", meta.mtime(), meta.mtime_nsec());
            let ft = meta.file_type();
            let what = if ft.is_symlink() {
                format!("link -> {} {mtime}", fs::read_link(p).unwrap().display())
            } else if meta.is_dir() {
                format!("dir {mode:04o} {mtime}")
            } else if ft.is_fifo() {
                format!("fifo {mode:04o} {mtime}")
            } else if ft.is_char_device() || ft.is_block_device() {
                let kind = if ft.is_char_device() { "char" } else { "block" };
                format!("{kind} {mode:04o} {mtime} rdev {}", meta.rdev())
            } else if ft.is_socket() {
                format!("socket {mode:04o}")
            } else {
                let bytes = fs::read(p).unwrap();
                format!("file {mode:04o} {mtime} {} {}", bytes.len(), hex::encode(Sha256::digest(&bytes)))
            };
            // Extended attributes (ACLs, capabilities, user.*) as rb keeps them, so that
            // a before/after comparison sees them too.
            let xattrs = match meta.file_type().is_symlink() {
                true => Default::default(),
                false => read_xattrs(p),
            };
            let what = match xattrs.is_empty() {
                true => what,
                false => {
                    let list: Vec<String> =
                        xattrs.iter().map(|(n, v)| format!("{n}={}", hex::encode(v))).collect();
                    format!("{what} xattrs[{}]", list.join(","))
                }
            };
            map.insert(rel, what);
        });
        Tree(map)
    }

    /// Drops the paths at or under each prefix.
    pub fn without(mut self, prefixes: &[&str]) -> Tree {
        self.0.retain(|p, _| !prefixes.iter().any(|x| p == x || p.starts_with(&format!("{x}/"))));
        self
    }

    /// Keeps `prefix` and what is under it, paths unchanged.
    pub fn only(mut self, prefix: &str) -> Tree {
        self.0.retain(|p, _| p == prefix || p.starts_with(&format!("{prefix}/")));
        self
    }

    /// Keeps only what is under `prefix`, with the prefix removed.
    pub fn under(&self, prefix: &str) -> Tree {
        let strip = format!("{prefix}/");
        Tree(
            self.0
                .iter()
                .filter_map(|(p, v)| p.strip_prefix(&strip).map(|r| (r.to_string(), v.clone())))
                .collect(),
        )
    }

    /// Content only (type and hash/target), for comparing copies whose mtimes differ.
    pub fn contents(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(p, v)| {
                let parts: Vec<&str> = v.split(' ').collect();
                let kept = match parts[0] {
                    "file" => format!("file {} {}", parts[1], parts[4]),
                    "dir" => "dir".to_string(),
                    _ => v.rsplit_once(' ').map_or(v.clone(), |(a, _)| a.to_string()),
                };
                (p.clone(), kept)
            })
            .collect()
    }

    #[track_caller]
    pub fn assert_same(&self, expected: &Tree) {
        if self == expected {
            return;
        }
        let mut diff = String::new();
        for (p, v) in &expected.0 {
            match self.0.get(p) {
                None => writeln!(diff, "  gone:    {p}  ({v})").unwrap(),
                Some(w) if w != v => writeln!(diff, "  changed: {p}\n    was {v}\n    now {w}").unwrap(),
                _ => {}
            }
        }
        for (p, v) in &self.0 {
            if !expected.0.contains_key(p) {
                writeln!(diff, "  new:     {p}  ({v})").unwrap();
            }
        }
        panic!("the tree differs from what was expected:\n{diff}");
    }

    pub fn listing(&self) -> String {
        self.0.iter().map(|(p, v)| format!("  {p}  {v}\n")).collect()
    }
}

/// A command to run in a scenario.
pub struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    cwd: PathBuf,
    root: PathBuf,
}

impl Cmd {
    fn new(program: PathBuf, s: &Scenario) -> Cmd {
        let path = format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            s.base.join("bin").display(),
            bin_dir().display()
        );
        let env = vec![
            ("PATH".to_string(), path),
            ("HOME".to_string(), s.base.join("home").display().to_string()),
            ("TMPDIR".to_string(), s.base.join("tmp").display().to_string()),
            ("TZ".to_string(), "UTC".to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
            ("RB_NOW".to_string(), NOW.to_string()),
            ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
        ];
        Cmd { program, args: Vec::new(), env, stdin: None, cwd: s.root.clone(), root: s.root.clone() }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.into()));
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self
    }

    /// Feeds `input` on stdin (otherwise stdin is empty, not a terminal).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = dir.into();
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args).current_dir(&self.cwd).env_clear();
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Starts the command without waiting, `input` written to its stdin (then closed).
    pub fn spawn_with_stdin(&self, input: impl Into<Vec<u8>>) -> std::process::Child {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.into();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        child
    }

    /// Starts the command without waiting (for lock tests); stdin is empty.
    pub fn spawn(&self) -> std::process::Child {
        self.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// Runs it to the end.
    pub fn run(self) -> Run {
        self.run_with_stdout(Stdio::piped())
    }

    /// Runs it to the end with stdout a pipe whose reader has already gone (`rb-x | true`
    /// once `true` has exited): every write to stdout fails with a broken pipe. The `Run`'s
    /// stdout is empty.
    pub fn run_stdout_closed(self) -> Run {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        self.run_with_stdout(Stdio::from(writer))
    }

    fn run_with_stdout(self, stdout: Stdio) -> Run {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        let mut stdin = child.stdin.take().unwrap();
        let input = self.stdin.clone().unwrap_or_default();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        Run { cmd: self, output }
    }
}

/// A finished command, with chained checks that print everything when they fail.
pub struct Run {
    cmd: Cmd,
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        let stdin = self.cmd.stdin.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        panic!(
            "{what}\n--- argv: {} {}\n--- cwd: {}\n--- stdin: {}\n--- status: {}\n--- stdout:\n{}--- stderr:\n{}--- tree:\n{}",
            self.cmd.program.display(),
            self.cmd.args.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(" "),
            self.cmd.cwd.display(),
            stdin.as_deref().unwrap_or("(empty)"),
            self.output.status,
            self.stdout(),
            self.stderr(),
            Tree::of(&self.cmd.root).listing(),
        )
    }

    #[track_caller]
    pub fn success(self) -> Self {
        if !self.output.status.success() {
            self.fail("expected success");
        }
        self
    }

    #[track_caller]
    pub fn code_is(self, code: i32) -> Self {
        if self.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    /// Checks that stderr has a line containing `needle`.
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        if !self.stderr().lines().any(|l| l.contains(needle)) {
            self.fail(&format!("expected a stderr line containing {needle:?}"));
        }
        self
    }

    /// Checks that stderr is exactly these lines.
    #[track_caller]
    pub fn stderr_is(self, lines: &[&str]) -> Self {
        let got: Vec<String> = self.stderr().lines().map(str::to_string).collect();
        if got != lines {
            self.fail(&format!("expected stderr to be exactly {lines:#?}"));
        }
        self
    }

    /// Checks that the error is one line `tool: error: …` containing `needle`, that every
    /// other stderr line is one of rb's own (`rb-…: hint: …`, progress, warnings: no
    /// multi-line message, no panic), and that stdout is empty.
    #[track_caller]
    pub fn one_line_error(self, needle: &str) -> Self {
        let err = self.stderr();
        let errors: Vec<&str> = err.lines().filter(|l| l.contains(": error: ")).collect();
        let ours =
            |l: &str| l.starts_with("rb-") && l.split_once(": ").is_some_and(|(t, _)| !t.contains(' '));
        let others = err.lines().filter(|l| !ours(l)).count();
        if errors.len() != 1 || !errors[0].contains(needle) || others != 0 {
            self.fail(&format!("expected one error line containing {needle:?}"));
        }
        if !self.output.stdout.is_empty() {
            self.fail("expected nothing on stdout after an error");
        }
        self
    }

    #[track_caller]
    pub fn stdout_is_empty(self) -> Self {
        if !self.output.stdout.is_empty() {
            self.fail("expected nothing on stdout");
        }
        self
    }

    /// Every stdout line as a JSON value (each must parse).
    #[track_caller]
    pub fn stdout_values(&self) -> Vec<Value> {
        self.stdout()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| self.fail(&format!("stdout line is not JSON: {e}")))
            })
            .collect()
    }

    /// Every stdout line as a document of kind `T` (envelope checked).
    #[track_caller]
    pub fn docs<T: Document>(&self) -> Vec<T> {
        self.stdout()
            .lines()
            .map(|l| docs::from_line::<T>(l).unwrap_or_else(|e| self.fail(&format!("stdout: {e}"))))
            .collect()
    }

    /// The single stdout document of kind `T`.
    #[track_caller]
    pub fn doc<T: Document>(&self) -> T {
        let mut docs = self.docs::<T>();
        if docs.len() != 1 {
            self.fail(&format!("expected exactly one {} document on stdout", T::KIND));
        }
        docs.remove(0)
    }
}
