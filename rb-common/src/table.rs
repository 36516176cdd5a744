//! Listings for a person at a terminal: aligned columns, as `gh` and `kubectl get` print them.
//!
//! Documents stay the contract on stdout: a listing command prints JSON Lines unless its
//! `--format` is `table`, or is `auto` (the default) and stdout is a terminal. A pipe always
//! gets JSON, so scripts never see a table.

use std::io::IsTerminal;

/// How a listing is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A table when stdout is a terminal, JSON otherwise.
    #[default]
    Auto,
    /// Aligned columns.
    Table,
    /// One JSON document a line.
    Json,
}

impl Format {
    /// Whether to print a table.
    pub fn table(self) -> bool {
        match self {
            Format::Table => true,
            Format::Json => false,
            Format::Auto => std::io::stdout().is_terminal(),
        }
    }
}

/// Rows under a header, each column as wide as its widest cell.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    /// Adds a row (missing cells are empty, extra ones dropped).
    pub fn row(&mut self, cells: Vec<String>) -> &mut Table {
        let mut cells = cells;
        cells.resize(self.header.len(), String::new());
        // One line per row: a newline in a cell would break the columns.
        self.rows.push(cells.into_iter().map(|c| c.replace('\n', " ")).collect());
        self
    }

    /// True when it has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The text: the header, then each row; columns two spaces apart, the last one not padded.
    pub fn render(&self) -> String {
        let width = |i: usize| {
            std::iter::once(&self.header[i])
                .chain(self.rows.iter().map(|r| &r[i]))
                .map(|c| c.chars().count())
                .max()
        };
        let widths: Vec<usize> = (0..self.header.len()).map(|i| width(i).unwrap_or(0)).collect();
        let mut out = String::new();
        for cells in std::iter::once(&self.header).chain(&self.rows) {
            let last = cells.len().saturating_sub(1);
            let line: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| if i == last { c.clone() } else { format!("{c:<w$}", w = widths[i]) })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&["ID", "SET", "FILES"]);
        t.row(vec!["config_1".into(), "config".into(), "11".into()]);
        t.row(vec!["undo_2".into(), "undo".into(), "3\nx".into()]);
        assert_eq!(t.render(), "ID        SET     FILES\nconfig_1  config  11\nundo_2    undo    3 x\n");
        assert!(!t.is_empty());
    }
}
