//! A small table: columns with an alignment, rows of text, rendered as fixed-width plain text
//! (terminal), as a GitHub-flavoured Markdown table or as an HTML table.
//!
//! Public so every table fleetbench prints looks alike: the compression lab renders its
//! results with it too.

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// Columns and rows of text.
#[derive(Clone, Debug)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            columns: columns
                .iter()
                .map(|(name, align)| ((*name).to_owned(), *align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Fixed-width text, every line starting with `indent`, columns two spaces apart,
    /// with the header line when `header` is set. No trailing spaces.
    pub fn plain(&self, indent: &str, header: bool) -> String {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|(name, _)| if header { width(name) } else { 0 })
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let headers: Vec<String> = self.columns.iter().map(|(n, _)| n.clone()).collect();
        let lines = header.then_some(&headers).into_iter().chain(&self.rows);
        for cells in lines {
            let mut line = String::from(indent);
            for (i, (cell, ((_, align), w))) in cells
                .iter()
                .zip(self.columns.iter().zip(&widths))
                .enumerate()
            {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(w - width(cell));
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&pad);
                    }
                    Align::Right => {
                        line.push_str(&pad);
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown table (numbers right-aligned), cells escaped.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|(n, _)| cell(n)).collect();
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        let rule: Vec<&str> = self
            .columns
            .iter()
            .map(|(_, align)| match align {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// An HTML `<table>`, every cell escaped, right-aligned columns with `class="num"`.
    pub fn html(&self) -> String {
        let esc = crate::html::escape;
        let mut out = String::from("<table>\n<tr>");
        for (name, _) in &self.columns {
            out.push_str(&format!("<th>{}</th>", esc(name)));
        }
        out.push_str("</tr>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for ((_, align), c) in self.columns.iter().zip(row) {
                let class = if *align == Align::Right {
                    " class=\"num\""
                } else {
                    ""
                };
                out.push_str(&format!("<td{class}>{}</td>", esc(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        out
    }
}

/// Display width, counted in chars (every char the reports print is one column wide).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// One Markdown table cell, on one line: pipes and backslashes escaped, and `<` or `&` only
/// where they could start an HTML tag or entity (so `< 2 s` stays readable in the raw file).
pub(crate) fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let starts_markup = |n: Option<char>, extra: &[char]| {
            n.is_some_and(|n| n.is_ascii_alphanumeric() || extra.contains(&n))
        };
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' if starts_markup(next, &['/', '!', '?']) => out.push_str("&lt;"),
            '&' if starts_markup(next, &['#']) => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&[("name", Align::Left), ("n", Align::Right)]);
        t.row(vec!["alpha".to_owned(), "1".to_owned()]);
        t.row(vec!["b|c".to_owned(), "12345".to_owned()]);
        t
    }

    #[test]
    fn plain_aligns_columns() {
        let text = sample().plain("  ", true);
        assert_eq!(
            text, "  name       n\n  alpha      1\n  b|c    12345\n",
            "\n{text}"
        );
        assert_eq!(sample().plain("", false), "alpha      1\nb|c    12345\n");
    }

    #[test]
    fn markdown_escapes_cells() {
        let md = sample().markdown();
        assert_eq!(
            md,
            "| name | n |\n|---|---:|\n| alpha | 1 |\n| b\\|c | 12345 |\n"
        );
        assert_eq!(cell("< 2 s\nx"), "< 2 s x");
        assert_eq!(cell("<b>&amp; a\\"), "&lt;b>&amp;amp; a\\\\");
    }
}
