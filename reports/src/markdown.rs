//! Renders the report document as Markdown (GitHub-flavoured tables). Plots are not
//! inlined: each is written as its own `.svg` file beside `report.md` and referenced
//! by a relative link, so the report reads well in a repository browser.

use crate::document::{Block, Document, Table};

/// Escapes characters that would break a table cell or start markup.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// The whole report.md text.
pub(crate) fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n\n", doc.title);
    for block in &doc.blocks {
        match block {
            Block::Heading { level, text, .. } => {
                let hashes = "#".repeat(usize::from((*level).clamp(2, 4)));
                out.push_str(&format!("{hashes} {text}\n\n"));
            }
            Block::Paragraph(text) => out.push_str(&format!("{text}\n\n")),
            Block::List(items) => {
                for item in items {
                    out.push_str(&format!("- {item}\n"));
                }
                out.push('\n');
            }
            Block::Table(table) => table_markdown(&mut out, table),
            Block::Plot(plot) => {
                out.push_str(&format!(
                    "![{}]({})\n\n*{}*\n\n",
                    cell(&plot.title),
                    plot.file_name,
                    plot.title
                ));
            }
        }
    }
    out
}

fn table_markdown(out: &mut String, table: &Table) {
    let header: Vec<String> = table.header.iter().map(|h| cell(h)).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let rule: Vec<&str> = (0..table.header.len())
        .map(|i| {
            if i >= table.numeric_from {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_in_cells_are_escaped() {
        assert_eq!(cell("a|b"), "a\\|b");
    }

    #[test]
    fn numeric_columns_align_right() {
        let mut doc = Document {
            title: "T".into(),
            blocks: Vec::new(),
        };
        doc.table(&["name", "value"], vec![vec!["x".into(), "1".into()]], 1);
        let text = render(&doc);
        assert!(
            text.contains("| name | value |\n|---|---:|\n| x | 1 |"),
            "{text}"
        );
    }
}
