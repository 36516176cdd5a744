//! A real nginx (Debian's) for the tests: its own prefix outside the project, a free
//! loopback port, a marker page, and stopped by its pid when the test ends. Never the
//! system's nginx.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Scenario;

/// An nginx serving the project's `nginx/nginx.conf`, started by the test.
pub struct TestNginx {
    /// Its prefix: logs, pid file and temporary folders (outside the project root).
    pub prefix: PathBuf,
    /// The loopback port the page is served on.
    pub port: u16,
    /// The project's configuration file it runs.
    pub conf: PathBuf,
    /// The loopback port of the fixture site's TLS listener ([`TestNginx::start_site`]).
    pub ssl_port: u16,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestNginx {
    /// Writes `nginx/nginx.conf` serving `marker` on a free port, the `[nginx]` section of
    /// `rollback.toml` that points rb at this nginx, and starts it.
    pub fn start(s: &Scenario, marker: &str) -> TestNginx {
        let prefix = s.base.join("nginx-prefix");
        fs::create_dir_all(prefix.join("logs")).unwrap();
        let n =
            TestNginx { prefix, port: free_port(), conf: s.path("nginx/nginx.conf"), ssl_port: free_port() };
        s.write("nginx/nginx.conf", n.conf_text(marker, None));
        n.run(s, marker)
    }

    /// The fixture's own layout, as a real nginx is laid out: its `nginx/nginx.conf` (which
    /// includes `mime.types` and `conf.d/*.conf`) unchanged, `conf.d/helpdesk.conf` serving
    /// `marker` on a free port (with TLS on another from the fixture's self-signed
    /// certificate, snippets and an htpasswd), started with its runtime files under `prefix` (default:
    /// outside the project).
    pub fn start_site(s: &Scenario, marker: &str, prefix: Option<PathBuf>) -> TestNginx {
        let prefix = prefix.unwrap_or_else(|| s.base.join("nginx-prefix"));
        fs::create_dir_all(prefix.join("logs")).unwrap();
        let n =
            TestNginx { prefix, port: free_port(), conf: s.path("nginx/nginx.conf"), ssl_port: free_port() };
        assert!(s.read("nginx/nginx.conf").contains("include conf.d/*.conf;"), "the fixture's nginx.conf");
        s.write("nginx/conf.d/helpdesk.conf", n.site_text(marker));
        n.run(s, marker)
    }

    fn run(self, s: &Scenario, marker: &str) -> TestNginx {
        let n = self;
        s.write("rollback.toml", n.rollback_toml());
        let out = Command::new(nginx_program())
            .args(["-p", &format!("{}/", n.prefix.display()), "-c", &n.conf.display().to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "starting nginx: {}", String::from_utf8_lossy(&out.stderr));
        n.wait_for(marker);
        n
    }

    /// An nginx.conf that serves `marker` on this nginx's port (and on `extra_port` too, if
    /// given), with every file it writes under the prefix.
    pub fn conf_text(&self, marker: &str, extra_port: Option<u16>) -> String {
        let extra = extra_port.map(|p| format!("        listen 127.0.0.1:{p};\n")).unwrap_or_default();
        format!(
            "worker_processes 1;\nerror_log logs/error.log;\npid logs/nginx.pid;\n\nevents {{\n    worker_connections 32;\n}}\n\nhttp {{\n    access_log off;\n    client_body_temp_path logs/body;\n    proxy_temp_path logs/proxy;\n    fastcgi_temp_path logs/fastcgi;\n    uwsgi_temp_path logs/uwsgi;\n    scgi_temp_path logs/scgi;\n\n    server {{\n        listen 127.0.0.1:{};\n{extra}        location / {{\n            return 200 \"{marker}\\n\";\n        }}\n    }}\n}}\n",
            self.port
        )
    }

    /// The fixture's `conf.d/helpdesk.conf` serving `marker` on this nginx's ports.
    pub fn site_text(&self, marker: &str) -> String {
        format!(
            "server {{\n    listen 127.0.0.1:{};\n    listen 127.0.0.1:{} ssl;\n    server_name helpdesk.example;\n\n    ssl_certificate ssl/helpdesk.crt;\n    ssl_certificate_key ssl/helpdesk.key;\n    include snippets/headers.conf;\n\n    location / {{\n        return 200 \"{marker}\\n\";\n    }}\n\n    location /admin/ {{\n        auth_basic \"helpdesk staff\";\n        auth_basic_user_file htpasswd;\n        include snippets/proxy.conf;\n        proxy_pass http://helpdesk;\n    }}\n}}\n",
            self.port, self.ssl_port
        )
    }

    /// The `[nginx]` section for this nginx: the command only (rb finds the pid file and the
    /// error log in the configuration, through `nginx -T`).
    pub fn rollback_toml(&self) -> String {
        format!(
            "[nginx]\ncommand = [\"nginx\", \"-p\", \"{}/\", \"-c\", \"{}\"]\nreload_timeout_s = 10\n",
            self.prefix.display(),
            self.conf.display(),
        )
    }

    fn pid_file(&self) -> PathBuf {
        self.prefix.join("logs/nginx.pid")
    }

    /// The master's pid.
    pub fn master(&self) -> u32 {
        fs::read_to_string(self.pid_file()).unwrap().trim().parse().unwrap()
    }

    /// The master's children (its workers), sorted.
    pub fn workers(&self) -> Vec<u32> {
        let master = self.master().to_string();
        let mut pids: Vec<u32> = fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|pid: &u32| {
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().nth(1).map(str::to_string))
                    == Some(master.clone())
            })
            .collect();
        pids.sort();
        pids
    }

    /// The page's body, or `None` when nothing answers.
    pub fn get(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/", self.port);
        let mut response = ureq::get(&url).call().ok()?;
        response.body_mut().read_to_string().ok()
    }

    /// Polls the page until it is `marker` (5 s at most).
    pub fn wait_for(&self, marker: &str) {
        let want = format!("{marker}\n");
        let start = Instant::now();
        loop {
            let got = self.get();
            if got.as_deref() == Some(want.as_str()) {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "nginx serves {got:?}, not {want:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops nginx (TERM, then KILL), as the test's end does.
    pub fn stop(&self) {
        let Ok(pid) = fs::read_to_string(self.pid_file()).map(|t| t.trim().to_string()) else { return };
        if pid.is_empty() {
            return;
        }
        // A zombie (nobody reaped it yet) is gone as far as the test cares.
        let alive = || {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|st| st.rfind(')').is_some_and(|i| !st[i + 1..].trim_start().starts_with('Z')))
        };
        let kill = |signal: &str| {
            let _ = Command::new("kill").args([signal, &pid]).stderr(std::process::Stdio::null()).status();
        };
        kill("-TERM");
        let start = Instant::now();
        while alive() && start.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive() {
            kill("-KILL");
        }
    }
}

impl Drop for TestNginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's nginx binary: a missing one fails the test loudly (`make test` installs it).
pub fn nginx_program() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.is_file()).unwrap_or_else(
        || {
            panic!(
                "nginx is not installed: `make test` installs it (scripts/deps.sh), or apt-get install nginx"
            )
        },
    )
}
