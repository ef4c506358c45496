//! Renders the report document as Markdown (GitHub-flavoured tables). Plots are not
//! inlined: each is written as its own `.svg` file beside `report.md` and referenced
//! by a relative link, so the report reads well in a repository browser. Folded
//! material uses `<details>`, which GitHub renders; each table links its CSV copy.

use crate::document::{Block, Document, Table};
use crate::html::BEST_MARK;

/// Escapes characters that would break a table cell or start markup.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// The whole report.md text.
pub(crate) fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n\n", doc.title);
    blocks_markdown(&mut out, &doc.blocks);
    out
}

fn blocks_markdown(out: &mut String, blocks: &[Block]) {
    for block in blocks {
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
            Block::Table(table) => table_markdown(out, table),
            Block::Plot(plot) => {
                out.push_str(&format!(
                    "![{}]({})\n\n*{}*\n\n",
                    cell(&plot.title),
                    plot.file_name,
                    plot.title
                ));
            }
            Block::Details { summary, blocks } => {
                out.push_str(&format!(
                    "<details>\n<summary>{}</summary>\n\n",
                    crate::html::escape(summary)
                ));
                blocks_markdown(out, blocks);
                out.push_str("</details>\n\n");
            }
            Block::Beside(left, right) => {
                blocks_markdown(out, left);
                blocks_markdown(out, right);
            }
        }
    }
}

fn table_markdown(out: &mut String, table: &Table) {
    let header: Vec<String> = (0..table.header.len())
        .map(|i| cell(&table.full_header(i)))
        .collect();
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
    for (r, row) in table.rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if table.best.contains(&(r, i)) {
                    format!("**{}** {BEST_MARK}", cell(c))
                } else {
                    cell(c)
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
    if !table.csv.is_empty() {
        let href = crate::csv::href(table);
        out.push_str(&format!("[This table as CSV]({href})\n\n"));
    }
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
        let mut doc = Document::new("T");
        doc.table(&["name", "value"], vec![vec!["x".into(), "1".into()]], 1);
        doc.finish();
        let text = render(&doc);
        assert!(
            text.contains("| name | value |\n|---|---:|\n| x | 1 |"),
            "{text}"
        );
        assert!(
            text.contains("[This table as CSV](tables/table.csv)"),
            "{text}"
        );
    }
}
