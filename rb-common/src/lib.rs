//! `rb-common`: what every rb tool shares — documents, the store, the snapshot and restore
//! engines, path safety, atomic writes, external programs, configuration, errors and `main`.
//!
//! Each module says what it is for; `docs/design.md` says why. The tools (`rb-snapshot`,
//! `rb-restore`, …) are thin layers over this crate.
//!
//! # Layers
//!
//! Every import points down this table, or left within a row: a module uses only modules of
//! lower layers and those listed before it in its own layer, so nothing imports in a circle
//! (a test reads this table and each module's `crate::` paths and holds it).
//!
//! | layer | modules | what they are |
//! | --- | --- | --- |
//! | 0 | error, exit, ui, clock, paths, fsx, lock, http, table, signals, exec | the ground: errors, what is said on stderr, time, paths, files, programs |
//! | 1 | doc, manifest, journal | the documents and their checks: plain data |
//! | 2 | config | `rollback.toml` |
//! | 3 | store | the backups folder, and (`store::legacy`) the old scripts' backups in it |
//! | 4 | snapshot, restore, changes, diff, wait, nginx, django, health, envfile | the engines, and the env backups |
//! | 5 | take, put_back | a snapshot of a set, a restore of an id: what the tools call |
//! | 6 | cli | the way in and out of every tool |

// layers: error exit ui clock paths fsx lock http table signals exec | doc manifest journal | config | store | snapshot restore changes diff wait nginx django health envfile | take put_back | cli

pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diff;
pub mod django;
pub mod doc;
pub mod envfile;
pub mod error;
pub mod exec;
pub mod exit;
pub mod fsx;
pub mod health;
pub mod http;
pub mod journal;
pub mod lock;
pub mod manifest;
pub mod nginx;
pub mod paths;
pub mod put_back;
pub mod restore;
pub mod signals;
pub mod snapshot;
pub mod store;
pub mod table;
pub mod take;
pub mod ui;
pub mod wait;

pub use error::{Error, Result};
pub use store::legacy;
