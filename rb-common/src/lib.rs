//! `rb-common`: what every rb tool shares — documents, the store, the snapshot and restore
//! engines, path safety, atomic writes, external programs, configuration, errors and `main`.
//!
//! Each module says what it is for; DESIGN.md says why. The tools (`rb-snapshot`,
//! `rb-restore`, …) are thin layers over this crate.

pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diff;
pub mod django;
pub mod doc;
pub mod error;
pub mod exec;
pub mod fsx;
pub mod health;
pub mod http;
pub mod legacy;
pub mod lock;
pub mod nginx;
pub mod paths;
pub mod progress;
pub mod restore;
pub mod signals;
pub mod snapshot;
pub mod store;
pub mod table;
pub mod wait;

pub use error::{Error, Result};
