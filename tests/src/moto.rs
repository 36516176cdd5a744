//! A real moto server (`moto_server` from `.venv`, made by `make test`) on a free loopback
//! port, for the AWS CLI: Secrets Manager and ECS as AWS answers them. Stopped by its pid
//! when dropped.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::nginx::free_port;
use crate::{Cmd, Run, Scenario, python};

/// A moto server started by the test.
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Moto {
    /// Starts one (ECS services become stable only with `MOTO_ECS_SERVICE_RUNNING=1`).
    pub fn start() -> Moto {
        let port = free_port();
        let server = python().with_file_name("moto_server");
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ECS_SERVICE_RUNNING", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {}: {e} (make test installs it into .venv)", server.display())
            });
        let moto = Moto { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// `cmd` pointed at this server: the endpoint, test credentials, a region.
    pub fn env(&self, cmd: Cmd) -> Cmd {
        cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", self.port))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_PAGER", "")
    }

    /// The real AWS CLI (`.venv/bin/aws`) against this server.
    pub fn aws(&self, s: &Scenario, args: &[&str]) -> Run {
        self.env(s.program(aws())).args(args.iter().copied()).run()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The AWS CLI of `.venv`.
pub fn aws() -> std::path::PathBuf {
    python().with_file_name("aws")
}
