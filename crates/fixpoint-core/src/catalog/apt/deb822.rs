//! The deb822 control-file syntax that `Release`, `Packages` and `.sources`
//! files share: paragraphs separated by blank lines, `Name: value` fields,
//! continuation lines that start with a space or tab, and (as apt accepts
//! them in `.sources` files) comment lines that start with `#`.
//!
//! The reader borrows from its input and allocates one small vector per
//! paragraph, so a full `Packages` index of tens of thousands of stanzas is
//! read in a few milliseconds.

/// One field: its name, the value on its own line, and its continuation lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub name: &'a str,
    /// The value on the field's own line, trimmed.
    pub value: &'a str,
    /// The continuation lines, as written (each starts with a space or a tab;
    /// comment lines in between are kept here and skipped by [`Field::lines`]).
    continuation: &'a str,
    /// 1-based line of the field name.
    pub line: usize,
}

impl<'a> Field<'a> {
    /// The continuation lines, trimmed, with their line numbers; comment lines
    /// are skipped, and a line of a single `.` stands for an empty line.
    pub fn lines(&self) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        let first = self.line + 1;
        self.continuation
            .split('\n')
            .enumerate()
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .map(move |(i, l)| {
                let l = l.trim();
                (first + i, if l == "." { "" } else { l })
            })
    }

    /// Every whitespace-separated word of the value, its own line and continuation lines.
    pub fn words(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.value.split_ascii_whitespace().chain(
            self.continuation
                .split('\n')
                .filter(|l| !l.starts_with('#'))
                .flat_map(str::split_ascii_whitespace),
        )
    }

    pub fn is_multiline(&self) -> bool {
        self.lines().next().is_some()
    }
}

/// A paragraph (stanza): its fields in order, and the line it starts on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paragraph<'a> {
    pub line: usize,
    pub fields: Vec<Field<'a>>,
}

impl<'a> Paragraph<'a> {
    /// The first field with this name; field names are case-insensitive.
    pub fn get(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).map(|f| f.value)
    }
}

/// A syntax error: the 1-based line and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// The paragraphs of a deb822 text, in order.
pub(crate) fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs {
        text,
        pos: 0,
        line: 0,
        failed: false,
    }
}

#[derive(Debug)]
pub(crate) struct Paragraphs<'a> {
    text: &'a str,
    /// Byte offset of the next unread line.
    pos: usize,
    /// Number of lines read so far.
    line: usize,
    failed: bool,
}

impl<'a> Paragraphs<'a> {
    /// The next line without its terminator (and without a trailing `\r`),
    /// its byte range end, and advances past it.
    fn next_line(&mut self) -> Option<&'a str> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (line, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        self.line += 1;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    fn peek_starts_continuation(&self) -> bool {
        let rest = self.text.as_bytes().get(self.pos..).unwrap_or_default();
        match rest.first() {
            Some(b' ' | b'\t') => !is_blank_line(rest),
            Some(b'#') => true,
            _ => false,
        }
    }

    fn fail(
        &mut self,
        line: usize,
        message: impl Into<String>,
    ) -> Option<Result<Paragraph<'a>, SyntaxError>> {
        self.failed = true;
        Some(Err(SyntaxError {
            line,
            message: message.into(),
        }))
    }
}

/// Whether the line at the start of `rest` holds only spaces and tabs.
fn is_blank_line(rest: &[u8]) -> bool {
    for &b in rest {
        match b {
            b' ' | b'\t' | b'\r' => continue,
            b'\n' => return true,
            _ => return false,
        }
    }
    true
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut paragraph = Paragraph {
            line: 0,
            fields: Vec::with_capacity(16),
        };
        while let Some(line) = self.next_line() {
            let number = self.line;
            if line.trim_matches([' ', '\t']).is_empty() {
                if paragraph.fields.is_empty() {
                    continue;
                }
                return Some(Ok(paragraph));
            }
            match line.as_bytes()[0] {
                b'#' => continue,
                b' ' | b'\t' => {
                    return self.fail(number, "continuation line outside a field (a line that starts with a space must continue a field)");
                }
                _ => {}
            }
            let Some((name, value)) = line.split_once(':') else {
                return self.fail(
                    number,
                    format!("expected `Field: value`, found {:?}", truncate(line)),
                );
            };
            if name.is_empty() || name.contains([' ', '\t']) || name.starts_with('-') {
                return self.fail(number, format!("invalid field name {:?}", truncate(name)));
            }
            // Continuation lines (and comments among them) follow directly.
            let start = self.pos;
            let mut end = self.pos;
            while self.peek_starts_continuation() {
                self.next_line();
                end = self.pos;
            }
            let continuation = self.text[start..end].trim_end_matches(['\n', '\r']);
            if paragraph.fields.is_empty() {
                paragraph.line = number;
            }
            paragraph.fields.push(Field {
                name,
                value: value.trim(),
                continuation,
                line: number,
            });
        }
        if paragraph.fields.is_empty() {
            None
        } else {
            Some(Ok(paragraph))
        }
    }
}

/// A bounded excerpt of input for an error message.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 60;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Result<Vec<Paragraph<'_>>, SyntaxError> {
        paragraphs(text).collect()
    }

    #[test]
    fn paragraphs_are_separated_by_blank_or_whitespace_lines() {
        let ps = all("A: 1\nB: 2\n\n \t\nC: 3\r\n\r\n\n").expect("valid");
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].value("b"), Some("2"));
        assert_eq!(ps[1].line, 5);
        assert_eq!(ps[1].value("C"), Some("3"));
    }

    #[test]
    fn continuation_lines_and_comments_belong_to_their_field() {
        let ps = all("SHA256:\n abc 1 x\n# comment\n def 2 y\nNext: v\n").expect("valid");
        let f = ps[0].get("SHA256").expect("field");
        assert_eq!(
            f.lines().collect::<Vec<_>>(),
            vec![(2, "abc 1 x"), (4, "def 2 y")]
        );
        assert_eq!(f.words().count(), 6);
        assert_eq!(ps[0].value("next"), Some("v"));
    }

    #[test]
    fn a_line_without_a_colon_is_an_error_with_its_line() {
        let err = all("A: 1\n\nnot a field\n").expect_err("invalid");
        assert_eq!(err.line, 3);
        let err = all(" leading\n").expect_err("invalid");
        assert_eq!(err.line, 1);
    }
}
