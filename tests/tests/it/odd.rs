//! Odd files don't block a rollback: a fifo, device node, socket or a name that is not UTF-8
//! in a restored folder goes (exact is exact) and is kept in the undo — fifos and device
//! nodes by type, mode and device number, names that are not UTF-8 as `path_hex` beside an
//! escaped `path` — and a socket, which cannot be kept, is removed and named.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use rb_tests::Scenario;
use rb_tests::docs::{Manifest, Node, RestoreDoc, Summary};

/// A project with one set, `data`: the folder `data/`, holding one file.
fn data_set() -> Scenario {
    let s = Scenario::new();
    s.write("rollback.toml", "[sets.data]\npaths = [\"data/\"]\n");
    s.mkdir("data");
    s.write("data/app.conf", "port = 80\n");
    s
}

/// `data/caf\xe9.txt`: a Latin-1 name, not UTF-8.
const LATIN1: &[u8] = b"data/caf\xe9.txt";

fn raw_path(s: &Scenario, bytes: &[u8]) -> PathBuf {
    s.path("").join(OsStr::from_bytes(bytes))
}

fn mkfifo(s: &Scenario, rel: &str, mode: u32) {
    let out = s.program("mkfifo").args(["-m", &format!("{mode:o}"), rel]).run().success();
    drop(out);
}

/// A character device with /dev/null's device number.
fn mknod_null(s: &Scenario, rel: &str) -> u64 {
    let rdev = fs::metadata("/dev/null").unwrap().rdev();
    let (major, minor) = (rdev >> 8 & 0xfff, rdev & 0xff);
    s.program("mknod").args(["-m", "600", rel, "c", &major.to_string(), &minor.to_string()]).run().success();
    rdev
}

fn bind_socket(s: &Scenario, rel: &str) -> std::os::unix::net::UnixListener {
    std::os::unix::net::UnixListener::bind(s.path(rel)).unwrap()
}

#[test]
fn a_fifo_device_socket_and_latin1_name_in_a_restored_folder_go_and_the_undo_keeps_them() {
    let s = data_set();
    let snap: Summary = s.cmd("rb-snapshot").arg("data").run().success().doc();
    let good = s.live();

    // Since: a fifo, a device node, a socket and a file whose name is not UTF-8.
    mkfifo(&s, "data/pipe", 0o640);
    let rdev = mknod_null(&s, "data/null");
    let _listener = bind_socket(&s, "data/app.sock");
    fs::write(raw_path(&s, LATIN1), "latin-1\n").unwrap();
    s.touch("data/pipe", 1_700_000_000, 5).touch("data/null", 1_700_000_001, 0);
    let latin1 = rb_tests::docs::escaped(LATIN1);
    let expected_removed = ["data/app.sock", "data/null", "data/pipe", latin1.as_str()];
    let broken = s.tree();

    // The dry run says what would go and names the socket, escaped names and all.
    let dry = s.cmd("rb-restore").args(["--dry-run", &snap.id]).run().success();
    let doc: RestoreDoc = dry.doc();
    assert!(doc.dry_run);
    let mut removed = doc.removed.clone();
    removed.sort();
    let mut want: Vec<String> = expected_removed.iter().map(|p| p.to_string()).collect();
    want.sort();
    assert_eq!(removed, want);
    let dry = dry.stderr_has("rb-restore: warning: data/app.sock is a socket: the restore would remove it");
    // In the document, the Latin-1 name is escaped text with its bytes in hex beside it.
    let value = &dry.stdout_values()[0];
    let odd = value["removed"].as_array().unwrap().iter().find(|v| v.is_object()).unwrap();
    assert_eq!(odd["path"], "data/caf\\xe9.txt");
    assert_eq!(odd["path_hex"], hex::encode(LATIN1));
    s.tree().assert_same(&broken);

    // The restore removes them all and is exact again; the socket is named on the way.
    let run = s.cmd("rb-restore").arg(&snap.id).run().success();
    let run = run.stderr_has("rb-restore: warning: data/app.sock is a socket: it is not kept");
    let done: RestoreDoc = run.doc();
    let mut removed = done.removed.clone();
    removed.sort();
    assert_eq!(removed, want);
    s.live().assert_same(&good);

    // The undo's manifest keeps the fifo and the device by type, mode and device number,
    // and the Latin-1 name as path_hex beside its escaped path; the store holds no node.
    let undo = done.undo.unwrap();
    let text = s.read(&format!("backups/{undo}/.rb/manifest.json"));
    assert!(text.contains(r#""path":"data/pipe","type":"fifo","mode":"0640""#), "{text}");
    assert!(
        text.contains(&format!(r#""path":"data/null","type":"char","mode":"0600","rdev":{rdev}"#)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#""path":"data/caf\\xe9.txt","path_hex":"{}","type":"file""#,
            hex::encode(LATIN1)
        )),
        "{text}"
    );
    assert!(!text.contains("app.sock\",\"type"), "a socket in the undo: {text}");
    let m: Manifest = rb_tests::docs::from_line(&text).unwrap();
    let pipe = m.entries.iter().find(|e| e.path == "data/pipe").unwrap();
    assert!(matches!(pipe.node, Node::Fifo { mode } if mode.0 == 0o640), "{pipe:?}");
    let stored = s.path(&format!("backups/{undo}/data"));
    assert!(!stored.join("pipe").exists() && !stored.join("null").exists(), "a node in the store");
    // The copy of the Latin-1 file is there under its own bytes, and sha256sum checks it.
    assert_eq!(fs::read(stored.join(OsStr::from_bytes(b"caf\xe9.txt"))).unwrap(), b"latin-1\n");
    let sums = s
        .program("sha256sum")
        .args(["-c", ".rb/SHA256SUMS"])
        .current_dir(s.path(&format!("backups/{undo}")))
        .run()
        .success()
        .stdout();
    assert!(sums.contains(": OK"), "{sums}");

    // Restoring the undo makes the fifo and the device again, exactly; the socket is gone.
    s.cmd("rb-restore").arg(&undo).run().success();
    s.tree()
        .without(&["backups", "data/app.sock"])
        .assert_same(&broken.clone().without(&["backups", "data/app.sock"]));
    let null = fs::symlink_metadata(s.path("data/null")).unwrap();
    assert!(null.file_type().is_char_device() && null.rdev() == rdev);
    assert!(fs::symlink_metadata(s.path("data/pipe")).unwrap().file_type().is_fifo());
    assert!(!s.exists("data/app.sock"));
}

#[test]
fn a_snapshot_records_fifos_and_latin1_names_and_names_a_socket_it_cannot_keep() {
    let s = data_set();
    mkfifo(&s, "data/pipe", 0o600);
    fs::write(raw_path(&s, LATIN1), "latin-1\n").unwrap();
    let _listener = bind_socket(&s, "data/app.sock");
    let run = s.cmd("rb-snapshot").arg("--manifest").arg("data").run().success();
    let run = run.stderr_has("rb-snapshot: warning: data/app.sock is a socket: it is not kept");
    let snap: Manifest = run.doc();
    let paths: Vec<&str> = snap.entries.iter().map(|e| e.path.as_str()).collect();
    let latin1 = rb_tests::docs::escaped(LATIN1);
    assert_eq!(paths, ["data", "data/app.conf", latin1.as_str(), "data/pipe"]);
    let good = s.tree().without(&["backups", "data/app.sock"]);

    // Both gone, the socket too: the restore makes the fifo and the file again.
    fs::remove_file(raw_path(&s, LATIN1)).unwrap();
    s.remove("data/pipe").remove("data/app.sock");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&snap.id).run().success().doc();
    assert_eq!(done.created, [latin1.as_str(), "data/pipe"]);
    s.tree().without(&["backups"]).assert_same(&good);
    // `rb-snapshot verify` has nothing to check for a fifo, and finds the odd name's copy.
    s.cmd("rb-snapshot").args(["verify", &snap.id]).run().success();
}

#[test]
fn a_folder_whose_name_is_not_utf8_goes_comes_back_and_is_named_escaped() {
    let s = data_set();
    let dir = raw_path(&s, b"data/d\xff");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("inner"), "x\n").unwrap();
    let with: Summary = s.cmd("rb-snapshot").arg("data").run().success().doc();
    fs::remove_dir_all(&dir).unwrap();
    let without: Summary = s.cmd("rb-snapshot").arg("data").run().success().doc();

    // Restored exactly, the folder comes back from the snapshot that has it…
    let d = rb_tests::docs::escaped(b"data/d\xff");
    let done: RestoreDoc = s.cmd("rb-restore").arg(&with.id).run().success().doc();
    assert_eq!(done.created, [d.clone(), format!("{d}/inner")]);
    assert_eq!(fs::read(dir.join("inner")).unwrap(), b"x\n");
    // …and goes with the one that does not, kept whole in the undo.
    let gone: RestoreDoc = s.cmd("rb-restore").arg(&without.id).run().success().doc();
    assert_eq!(gone.removed, [d]);
    assert!(!dir.exists());
    s.cmd("rb-restore").arg(gone.undo.unwrap()).run().success();
    assert_eq!(fs::read(dir.join("inner")).unwrap(), b"x\n");

    // Undoing the restore that created it, with a file added there since: the folder is kept,
    // and the warning shows both names escaped.
    fs::write(dir.join("other"), "mine\n").unwrap();
    s.cmd("rb-restore")
        .arg(done.undo.unwrap())
        .run()
        .success()
        .stderr_has("rb-restore: warning: data/d\\xff was created by the restore being undone, and is kept: it now also holds data/d\\xff/other");
    assert!(dir.join("other").exists() && !dir.join("inner").exists());
}
