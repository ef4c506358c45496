//! Renders the report document as one self-contained HTML page: inline CSS, SVG plots
//! inlined, no scripts and no external assets, so `index.html` opens offline and can
//! be mailed as a single file (the CSV copies of its tables, linked beside each table,
//! sit in `tables/`). The markup is also well-formed XML (void elements are
//! self-closed, only XML's five entities are used), which lets tests parse it.

use crate::document::{flatten, Block, Document, Table, DASH, NOT_MEASURED};

/// What marks the best value of a column, after the value itself (which is bold).
pub(crate) const BEST_MARK: &str = "★";

/// Small stylesheet: readable tables, numbers right-aligned, plots scaled to the page;
/// `.beside` sets the headline's table and plot side by side where there is room.
const CSS: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
main { max-width: 1300px; margin: 0 auto; padding: 1em 2em 4em; background: #fff; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.3em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h2.first { margin-top: 0.6em; }
h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.8em 0 0.2em; font-size: 0.88em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
th.group { text-align: center; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nm { color: #888; font-style: italic; }
td.best { background: #e6f4ea; }
tbody tr:nth-child(even) { background: #f8f8f8; }
a.csv { display: block; font-size: 0.78em; margin: 0 0 1.2em; color: #555; }
figure { margin: 1em 0 2em; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.beside { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
.beside > div { flex: 1 1 600px; min-width: 0; }
.beside > div + div { flex: 0 1 510px; }
.beside table { font-size: 0.8em; }
.beside th, .beside td { padding: 0.2em 0.45em; }
.beside p { font-size: 0.9em; margin: 0.5em 0; }
.beside figure { margin: 0.8em 0 0.5em; }
details { margin: 0.6em 0 1em; }
details > summary { cursor: pointer; color: #333; }
details.toc { font-size: 0.9em; margin: 0 0 0.4em; }
nav ul { columns: 2; list-style: none; padding-left: 0; }
nav li.sub { padding-left: 1.4em; font-size: 0.95em; }
nav li { break-inside: avoid; }
code { font-size: 0.9em; }
";

/// Escapes text for element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page: title, the contents folded into one line, then the blocks.
pub(crate) fn render(doc: &Document) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    out.push_str(&format!("<title>{}</title>\n", escape(&doc.title)));
    out.push_str(&format!("<style>{CSS}</style>\n</head>\n<body>\n<main>\n"));
    out.push_str(&format!("<h1>{}</h1>\n", escape(&doc.title)));

    out.push_str("<details class=\"toc\"><summary>Contents</summary>\n<nav>\n<ul>\n");
    for block in flatten(&doc.blocks) {
        if let Block::Heading {
            level,
            text,
            anchor,
        } = block
        {
            let class = match level {
                2 => "",
                3 => " class=\"sub\"",
                _ => continue,
            };
            out.push_str(&format!(
                "<li{class}><a href=\"#{}\">{}</a></li>\n",
                escape(anchor),
                escape(text)
            ));
        }
    }
    out.push_str("</ul>\n</nav>\n</details>\n");
    let mut first_heading = true;
    blocks_html(&mut out, &doc.blocks, &mut first_heading);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Renders `blocks` in order; containers recurse.
fn blocks_html(out: &mut String, blocks: &[Block], first_heading: &mut bool) {
    for block in blocks {
        match block {
            Block::Heading {
                level,
                text,
                anchor,
            } => {
                let level = (*level).clamp(2, 4);
                // The first heading follows the title closely: results on the first screen.
                let class = if *first_heading && level == 2 {
                    " class=\"first\""
                } else {
                    ""
                };
                *first_heading = false;
                out.push_str(&format!(
                    "<h{level} id=\"{}\"{class}>{}</h{level}>\n",
                    escape(anchor),
                    escape(text)
                ));
            }
            Block::Paragraph(text) => out.push_str(&format!("<p>{}</p>\n", escape(text))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", escape(item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(table) => table_html(out, table),
            Block::Plot(plot) => {
                let id = plot.file_name.trim_end_matches(".svg");
                out.push_str(&format!("<figure id=\"plot-{}\">\n", escape(id)));
                out.push_str(strip_xml_declaration(&plot.svg));
                out.push_str(&format!(
                    "\n<figcaption>{} ({})</figcaption>\n</figure>\n",
                    escape(&plot.title),
                    escape(&plot.file_name)
                ));
            }
            Block::Details { summary, blocks } => {
                out.push_str(&format!(
                    "<details>\n<summary>{}</summary>\n",
                    escape(summary)
                ));
                blocks_html(out, blocks, first_heading);
                out.push_str("</details>\n");
            }
            Block::Beside(left, right) => {
                out.push_str("<div class=\"beside\">\n<div>\n");
                blocks_html(out, left, first_heading);
                out.push_str("</div>\n<div>\n");
                blocks_html(out, right, first_heading);
                out.push_str("</div>\n</div>\n");
            }
        }
    }
}

/// An SVG document may start with an XML declaration, which must not appear inside
/// an HTML page.
fn strip_xml_declaration(svg: &str) -> &str {
    let trimmed = svg.trim_start();
    if trimmed.starts_with("<?xml") {
        match trimmed.find("?>") {
            Some(end) => trimmed.get(end + 2..).unwrap_or("").trim_start(),
            None => trimmed,
        }
    } else {
        trimmed
    }
}

fn table_html(out: &mut String, table: &Table) {
    let id = table.csv.trim_end_matches(".csv");
    out.push_str(&format!("<table id=\"table-{}\">\n<thead>\n", escape(id)));
    if !table.groups.is_empty() {
        out.push_str("<tr>");
        for (group, span) in &table.groups {
            let class = if group.is_empty() {
                ""
            } else {
                " class=\"group\""
            };
            out.push_str(&format!(
                "<th colspan=\"{span}\"{class}>{}</th>",
                escape(group)
            ));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("<tr>");
    for cell in &table.header {
        out.push_str(&format!("<th>{}</th>", escape(cell)));
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for (r, row) in table.rows.iter().enumerate() {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if table.best.contains(&(r, i)) {
                out.push_str(&format!(
                    "<td class=\"num best\"><strong>{}</strong> {BEST_MARK}</td>",
                    escape(cell)
                ));
                continue;
            }
            let class = if cell == NOT_MEASURED || cell == DASH {
                " class=\"nm\""
            } else if i >= table.numeric_from {
                " class=\"num\""
            } else {
                ""
            };
            out.push_str(&format!("<td{class}>{}</td>", escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    if !table.csv.is_empty() {
        let href = crate::csv::href(table);
        out.push_str(&format!(
            "<a class=\"csv\" href=\"{}\">this table as CSV: {}</a>\n",
            escape(&href),
            escape(&href)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("a<b & \"c\">'"),
            "a&lt;b &amp; &quot;c&quot;&gt;&#39;"
        );
    }

    #[test]
    fn best_cells_are_bold_and_marked_and_tables_link_their_csv() {
        let mut doc = Document::new("t");
        doc.heading(2, "Headline");
        doc.table(
            &["protocol", "ms"],
            vec![
                vec!["raft".into(), "200".into()],
                vec!["zab".into(), DASH.into()],
            ],
            1,
        );
        if let Some(Block::Table(t)) = doc.blocks.last_mut() {
            t.best.insert((0, 1));
        }
        doc.finish();
        let html = render(&doc);
        assert!(html.contains("<td class=\"num best\"><strong>200</strong> ★</td>"));
        assert!(html.contains("<td class=\"nm\">–</td>"));
        assert!(html.contains("<table id=\"table-headline\">"));
        assert!(html.contains("href=\"tables/headline.csv\""));
        assert!(html.contains("<li><a href=\"#headline\">Headline</a></li>"));
    }

    #[test]
    fn xml_declarations_are_removed() {
        assert_eq!(
            strip_xml_declaration("<?xml version=\"1.0\"?>\n<svg/>"),
            "<svg/>"
        );
        assert_eq!(strip_xml_declaration("<svg/>"), "<svg/>");
    }
}
