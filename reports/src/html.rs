//! Renders the report document as one self-contained HTML page: inline CSS, SVG plots
//! inlined, no scripts and no external assets, so `index.html` opens offline and can
//! be mailed as a single file. The markup is also well-formed XML (void elements are
//! self-closed, only XML's five entities are used), which lets tests parse it.

use std::collections::BTreeSet;

use crate::document::{Block, Document, Table};

/// Small stylesheet: readable tables, numbers right-aligned, plots scaled to the page.
const CSS: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; background: #fff; }
h1 { font-size: 1.7em; margin-top: 0.2em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.8em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nm { color: #888; font-style: italic; }
tbody tr:nth-child(even) { background: #f8f8f8; }
figure { margin: 1em 0 2em; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
nav ul { columns: 2; font-size: 0.9em; list-style: none; padding-left: 0; }
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

/// Gives every heading a unique anchor (a second "Settings" becomes "settings-2").
fn unique_anchors(doc: &Document) -> Vec<String> {
    let mut used = BTreeSet::new();
    let mut anchors = Vec::new();
    for block in &doc.blocks {
        if let Block::Heading { anchor, .. } = block {
            let base = if anchor.is_empty() {
                "section".to_string()
            } else {
                anchor.clone()
            };
            let mut candidate = base.clone();
            let mut n = 2;
            while !used.insert(candidate.clone()) {
                candidate = format!("{base}-{n}");
                n += 1;
            }
            anchors.push(candidate);
        }
    }
    anchors
}

/// The whole page.
pub(crate) fn render(doc: &Document) -> String {
    let anchors = unique_anchors(doc);
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    out.push_str(&format!("<title>{}</title>\n", escape(&doc.title)));
    out.push_str(&format!("<style>{CSS}</style>\n</head>\n<body>\n<main>\n"));
    out.push_str(&format!("<h1>{}</h1>\n", escape(&doc.title)));

    out.push_str("<nav>\n<ul>\n");
    let mut heading_index = 0;
    for block in &doc.blocks {
        if let Block::Heading { level, text, .. } = block {
            let anchor = anchors.get(heading_index).cloned().unwrap_or_default();
            heading_index += 1;
            let class = match level {
                2 => "",
                3 => " class=\"sub\"",
                _ => continue,
            };
            out.push_str(&format!(
                "<li{class}><a href=\"#{}\">{}</a></li>\n",
                escape(&anchor),
                escape(text)
            ));
        }
    }
    out.push_str("</ul>\n</nav>\n");

    let mut heading_index = 0;
    for block in &doc.blocks {
        match block {
            Block::Heading { level, text, .. } => {
                let anchor = anchors.get(heading_index).cloned().unwrap_or_default();
                heading_index += 1;
                let level = (*level).clamp(2, 4);
                out.push_str(&format!(
                    "<h{level} id=\"{}\">{}</h{level}>\n",
                    escape(&anchor),
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
            Block::Table(table) => table_html(&mut out, table),
            Block::Plot(plot) => {
                out.push_str("<figure>\n");
                out.push_str(strip_xml_declaration(&plot.svg));
                out.push_str(&format!(
                    "\n<figcaption>{} ({})</figcaption>\n</figure>\n",
                    escape(&plot.title),
                    escape(&plot.file_name)
                ));
            }
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
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
    out.push_str("<table>\n<thead>\n<tr>");
    for cell in &table.header {
        out.push_str(&format!("<th>{}</th>", escape(cell)));
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if cell == crate::document::NOT_MEASURED {
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
    fn duplicate_headings_get_distinct_anchors() {
        let mut doc = Document {
            title: "t".into(),
            blocks: Vec::new(),
        };
        doc.heading(2, "Settings");
        doc.heading(2, "Settings");
        assert_eq!(unique_anchors(&doc), vec!["settings", "settings-2"]);
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
