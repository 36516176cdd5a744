//! The HTTP client every tool uses (ureq with rustls): one timeout for a whole request, no
//! redirects followed (a 301/302 turns a POST into a GET without its token and "succeeds"
//! having done nothing; a redirect is reported instead), and HTTP error statuses returned as
//! answers, so that each caller says what a 401 or a 404 means for it.

use std::time::Duration;

/// An agent whose requests give up after `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}
