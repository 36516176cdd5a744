//! What every HTTP stand-in in `tests/src/bin/` shares: serving JSON on a free loopback port
//! (printed first on stdout), recording each request as a JSON line; and, on the test's side,
//! starting one, reading its port, reading back what it was sent, and stopping it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// One request as a stand-in sees it (and records it).
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as sent (path and query, still percent-encoded).
    pub url: String,
    /// The body.
    pub body: String,
    /// Every header, by lower-case name.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An answer: status, JSON body, and extra headers (`Location`).
pub type Answer = (u16, Value, Vec<(String, String)>);

/// Serves until killed: prints the port, then for each request appends
/// `{"method","url","body","headers"}` to `record` and answers with `handle`.
pub fn serve(record: &Path, mut handle: impl FnMut(&Request) -> Answer) -> ! {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("listening");
    println!("{}", server.server_addr().to_ip().expect("an IP address").port());
    std::io::stdout().flush().expect("stdout");
    for mut request in server.incoming_requests() {
        let mut body = String::new();
        let _ = request.as_reader().read_to_string(&mut body);
        let seen = Request {
            method: request.method().to_string(),
            url: request.url().to_string(),
            body,
            headers: request
                .headers()
                .iter()
                .map(|h| (h.field.to_string().to_lowercase(), h.value.to_string()))
                .collect(),
        };
        let line = json!({
            "method": seen.method,
            "url": seen.url,
            "body": seen.body,
            "headers": seen.headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        });
        let mut log =
            std::fs::OpenOptions::new().create(true).append(true).open(record).expect("the record file");
        writeln!(log, "{line}").expect("recording");
        let (status, answer, headers) = handle(&seen);
        let mut response = tiny_http::Response::from_string(answer.to_string())
            .with_status_code(status)
            .with_header("Content-Type: application/json".parse::<tiny_http::Header>().expect("a header"));
        for (name, value) in headers {
            response = response
                .with_header(format!("{name}: {value}").parse::<tiny_http::Header>().expect("a header"));
        }
        let _ = request.respond(response);
    }
    std::process::exit(0)
}

/// A stand-in started by a test, killed when dropped.
pub struct Standin {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where it records requests.
    pub record: PathBuf,
}

impl Standin {
    /// Starts `tests/src/bin/NAME` with `args` (its record file is `record`, which the
    /// caller passes among the args where the stand-in wants it).
    pub fn start(name: &str, args: &[&str], record: PathBuf) -> Standin {
        let mut child = Command::new(crate::bin(name))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting a stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout")).read_line(&mut line).expect("its port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("{name} printed {line:?}, not a port"));
        Standin { child, port, record }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request recorded so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a recorded request"))
            .collect()
    }

    /// The recorded `POST`s: URL and JSON body.
    pub fn posts(&self) -> Vec<(String, Value)> {
        self.requests()
            .into_iter()
            .filter(|r| r["method"] == "POST")
            .map(|r| {
                let body =
                    serde_json::from_str(r["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null);
                (r["url"].as_str().unwrap_or_default().to_string(), body)
            })
            .collect()
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
