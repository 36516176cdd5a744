//! A real PostgreSQL (Debian's) for one test: a private cluster in a temporary folder, made
//! with `initdb` and started with `pg_ctl` as the `postgres` user (initdb refuses root), its
//! socket in a short path (Unix socket paths are limited to about 107 bytes), no TCP at all.
//! The role `helpdesk` owns the database `helpdesk` and logs in with a password
//! (scram-sha-256), so the tests see credentials travel the way they do in production. The
//! cluster is stopped when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The password of the `helpdesk` role (a test's, not a secret).
pub const PASSWORD: &str = "helpdesk-test-pw";

/// A running private cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

/// The folder of the newest installed server's programs (`/usr/lib/postgresql/N/bin`).
fn server_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: `make test` installs Debian's postgresql (scripts/deps.sh)")
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p)| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql").1
}

fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program);
    cmd
}

#[track_caller]
fn ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Postgres {
    /// Creates and starts a cluster with the `helpdesk` role and database.
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new().prefix("rbpg.").tempdir_in("/tmp").unwrap();
        let status = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status().unwrap();
        assert!(status.success(), "chown postgres {}", dir.path().display());
        let bin = server_bin();
        let data = dir.path().join("data");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
        Command::new("chown").arg("postgres").arg(&pw).status().unwrap();
        ok(
            as_postgres(&bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "--no-sync",
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=reject",
                    "-E",
                    "UTF8",
                ])
                .arg("--locale=C.UTF-8"),
            "initdb",
        );
        // The superuser by trust (for the tests' own checks), everyone else by password.
        std::fs::write(data.join("pg_hba.conf"), "local all postgres trust\nlocal all all scram-sha-256\n")
            .unwrap();
        let pg = Postgres { dir, bin };
        let socket = pg.socket();
        ok(
            as_postgres(&pg.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(format!(
                    "-k {} -c listen_addresses= -c fsync=off -c full_page_writes=off",
                    socket.display()
                ))
                .arg("-l")
                .arg(pg.dir.path().join("log"))
                .args(["-w", "start"]),
            "pg_ctl start",
        );
        pg.superuser(&format!("CREATE ROLE helpdesk LOGIN PASSWORD '{PASSWORD}'"));
        pg.superuser("CREATE DATABASE helpdesk OWNER helpdesk");
        pg
    }

    /// The socket folder (PGHOST, Django's HOST).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs SQL as the superuser in the `helpdesk` database; its output, unaligned.
    pub fn superuser(&self, sql: &str) -> String {
        let db = if sql.starts_with("CREATE ROLE") || sql.starts_with("CREATE DATABASE") {
            "postgres"
        } else {
            "helpdesk"
        };
        ok(
            as_postgres(&self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
                .arg(self.socket())
                .args(["-d", db, "-c", sql]),
            &format!("psql -c {sql:?}"),
        )
    }

    /// The whole database as SQL, its lines sorted (`pg_dump` orders rows by their place on
    /// disk, which an UPDATE moves): equal for equal schemas and rows.
    pub fn dump(&self) -> String {
        let text = ok(
            as_postgres(&self.bin.join("pg_dump"))
                .args(["--no-owner", "--no-privileges", "-h"])
                .arg(self.socket())
                .arg("helpdesk"),
            "pg_dump",
        );
        // `\restrict KEY` lines carry a key made anew for every dump.
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
            })
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// The environment the helpdesk fixture's settings read to use this cluster (DB_HOST…),
    /// with the password, as production passes it.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DB_HOST".to_string(), self.socket().display().to_string()),
            ("DB_NAME".to_string(), "helpdesk".to_string()),
            ("DB_USER".to_string(), "helpdesk".to_string()),
            ("DB_PASSWORD".to_string(), PASSWORD.to_string()),
        ]
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
