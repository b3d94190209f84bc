//! Plain aligned tables for terminals and CI logs (no colours, stable for grepping).

/// Formats `rows` under `header`; the first column is left-aligned, `numeric` columns right-aligned.
pub fn render(header: &[&str], rows: &[Vec<String>], numeric: &[usize]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if numeric.contains(&i) {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < header.len() {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        out.push('\n');
        out
    };
    let mut text = line(&mut header.iter().copied());
    for row in rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn aligns_text_left_and_numbers_right() {
        let rows = vec![
            vec!["users".to_string(), "1200".to_string(), "ok".to_string()],
            vec!["chats".to_string(), "7".to_string(), "fine".to_string()],
        ];
        let text = render(&["STREAM", "ROWS", "NOTE"], &rows, &[1]);
        assert_eq!(
            text,
            "STREAM  ROWS  NOTE\nusers   1200  ok\nchats      7  fine\n"
        );
    }
}
