//! The exit codes of every rb tool, written once.
//!
//! The same table reaches every place that states it: each tool's `--help` ends with
//! [`help_section`] (through [`after_help`]), rb-gen writes [`EXIT_CODES`] into each man page's
//! EXIT STATUS, and docs/design.md's "Exit codes" table says the same words (a test compares
//! them). The error kinds of [`crate::error::Kind`] are these codes; a tool's own help says
//! only what a code means for that tool in particular (rb-envfile's 125–127, say).

/// Each exit code and what it means, the same for every tool: one sentence each, as the man
/// pages print them.
pub const EXIT_CODES: &[(u8, &str)] = &[
    (0, "Done, and verified."),
    (
        1,
        "Failed: nothing was changed, or the change was fully put back (also: a snapshot id \
         that does not exist, a damaged snapshot).",
    ),
    (
        2,
        "Bad usage or bad input (arguments, JSON, a path leaving the root, a document of \
         another kind): nothing was changed.",
    ),
    (
        3,
        "Failed and the state may be partly changed, or the change was made but stdout \
         failed: the error says what, and how to finish or undo.",
    ),
    (4, "Another rollback holds the store's lock: the error names the holder."),
];

/// What an interrupted run exits with, beside the table (every tool: signals.rs).
pub const INTERRUPTED: &str = "Interrupted by SIGINT, SIGTERM or SIGHUP while a snapshot or \
    restore changes files, rb stops at the next safe point and exits 1 once everything is put \
    back (3 if a second signal stopped that, the journal standing); elsewhere it ends as the \
    signal says (a shell shows 128 + its number: 130, 143, 129).";

/// The width the help section is filled to (clap's own default maximum).
const WIDTH: usize = 100;

/// The exit codes as a help section: a heading, then each code with its meaning filled to
/// 100 columns and indented under it, then, after a blank line, what an interrupted run
/// exits with.
pub fn help_section() -> String {
    let mut out = String::from("Exit codes (the same for every rb tool):\n");
    for (code, meaning) in EXIT_CODES {
        out.push_str(&fill(meaning, &format!("  {code}  "), "     "));
    }
    out.push('\n');
    out.push_str(&fill(INTERRUPTED, "", ""));
    out
}

/// A tool's `after_help`: its own text, then [`help_section`].
pub fn after_help(text: &str) -> String {
    format!("{}\n\n{}", text.trim_end(), help_section())
}

/// `text` filled to [`WIDTH`] columns: the first line after `first`, the others after `rest`.
fn fill(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_the_error_kinds_and_the_section_fits_in_100_columns() {
        use crate::error::Kind;
        let codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            codes,
            [0, Kind::Failed.code(), Kind::Usage.code(), Kind::Partial.code(), Kind::Locked.code()]
        );
        let section = help_section();
        for line in section.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        assert!(section.contains("\n  4  Another rollback holds the store's lock"), "{section}");
        assert!(after_help("Examples:\n  rb-x\n").starts_with("Examples:\n  rb-x\n\nExit codes"));
    }
}
