//! Every table of the report as a CSV file (RFC 4180) in `tables/` beside the page,
//! for readers who want the numbers in a spreadsheet or a script. The CSV holds what
//! the table shows: one header row (a column group's heading in front of its
//! columns' headings, "kill failover, ms: p99"), cells as printed; a value that was
//! not measured is an empty field, and the best-value marks of the page are left out.

use crate::document::{Table, DASH, NOT_MEASURED};

/// The directory of the CSV files, relative to the report's pages.
pub(crate) const DIR: &str = "tables";

/// One field, quoted when it must be: when it holds a comma, a double quote, a line
/// break, or starts or ends with a space (which some readers would trim). Quotes
/// inside a quoted field are doubled.
pub(crate) fn field(text: &str) -> String {
    let needs_quotes = text.contains([',', '"', '\n', '\r'])
        || text.starts_with([' ', '\t'])
        || text.ends_with([' ', '\t']);
    if needs_quotes {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One record: fields joined by commas, ended by CRLF as RFC 4180 says.
fn record<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let mut line = fields.map(field).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// The whole CSV text of a table.
pub(crate) fn render(table: &Table) -> String {
    let header: Vec<String> = (0..table.header.len())
        .map(|i| table.full_header(i))
        .collect();
    let mut out = record(header.iter().map(String::as_str));
    for row in &table.rows {
        out.push_str(&record(row.iter().map(|cell| {
            if cell == NOT_MEASURED || cell == DASH {
                ""
            } else {
                cell.as_str()
            }
        })));
    }
    out
}

/// The link from a page to a table's CSV file.
pub(crate) fn href(table: &Table) -> String {
    format!("{DIR}/{}", table.csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("raft"), "raft");
        assert_eq!(field("12.5"), "12.5");
        assert_eq!(field(""), "");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
        assert_eq!(field(" padded"), "\" padded\"");
        assert_eq!(field("µs ≥ 3"), "µs ≥ 3", "non-ASCII needs no quotes");
    }

    #[test]
    fn a_table_becomes_a_header_and_records() {
        let table = Table {
            header: vec!["protocol".into(), "median ms".into(), "note".into()],
            groups: vec![(String::new(), 1), ("kill".into(), 2)],
            rows: vec![
                vec!["raft".into(), "257".into(), "fsync=batch, 2ms".into()],
                vec!["paxos".into(), NOT_MEASURED.into(), DASH.into()],
            ],
            ..Table::default()
        };
        assert_eq!(
            render(&table),
            "protocol,kill: median ms,kill: note\r\n\
             raft,257,\"fsync=batch, 2ms\"\r\n\
             paxos,,\r\n"
        );
    }
}
