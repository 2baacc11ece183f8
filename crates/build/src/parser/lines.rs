//! Physical lines to logical lines: parser directives, comments, line continuations and
//! heredoc bodies, as BuildKit's `parser.Parse` reads them. Every logical line remembers where
//! each of its pieces came from, so an error anywhere in it names a line and a column.

use crate::error::ParseError;

/// `# syntax=`, `# escape=`, `# check=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub syntax: Option<String>,
    pub escape: char,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Self {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// Where a run of a logical line's bytes starts in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    offset: usize,
    line: usize,
    column: usize,
}

/// One instruction's text, joined from its physical lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logical {
    pub(crate) text: String,
    /// First and last physical line.
    pub(crate) start_line: usize,
    pub(crate) end_line: usize,
    segments: Vec<Segment>,
}

impl Logical {
    /// A logical line made from a piece of another (an ONBUILD trigger).
    pub(crate) fn from_text(text: &str, (line, column): (usize, usize)) -> Self {
        Self {
            text: text.to_owned(),
            start_line: line,
            end_line: line,
            segments: vec![Segment {
                offset: 0,
                line,
                column,
            }],
        }
    }

    /// The file position of byte `offset` of `text`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.offset <= offset)
            .copied()
            .unwrap_or(Segment {
                offset: 0,
                line: self.start_line,
                column: 1,
            });
        let chars = self
            .text
            .get(seg.offset..offset.min(self.text.len()))
            .map_or(0, |s| s.chars().count());
        (seg.line, seg.column + chars)
    }

    pub(crate) fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = self.position(offset);
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// A source of physical lines that heredoc readers can pull from.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    lines: Vec<&'a str>,
    next: usize,
    pub(crate) directives: Directives,
}

fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, after) = rest.split_at(key_len);
    let value = after.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_owned()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character (and the blanks after it): `(line, continues)`.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(s) => (s, true),
        None => (line, false),
    }
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Result<Self, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let mut directives = Directives::default();
        let mut seen: Vec<String> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let Some((key, value)) = directive(l.trim_start()) else {
                break;
            };
            if !matches!(key.as_str(), "syntax" | "escape" | "check") {
                break;
            }
            if seen.contains(&key) {
                return Err(ParseError {
                    line: i + 1,
                    column: 1,
                    message: format!("only one {key} parser directive can be used"),
                });
            }
            match key.as_str() {
                "escape" => {
                    directives.escape = match value.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        v => {
                            return Err(ParseError {
                                line: i + 1,
                                column: 1,
                                message: format!(
                                    "invalid escape token '{v}' does not match ` or \\"
                                ),
                            });
                        }
                    };
                }
                "syntax" => directives.syntax = Some(value),
                _ => directives.check = Some(value),
            }
            seen.push(key);
        }
        Ok(Self {
            lines,
            next: 0,
            directives,
        })
    }

    /// The next logical line, or `None` at the end.
    pub(crate) fn next_logical(&mut self) -> Option<Logical> {
        let escape = self.directives.escape;
        while self.next < self.lines.len() {
            let idx = self.next;
            self.next += 1;
            let raw = self.lines[idx];
            if is_comment(raw) || raw.trim().is_empty() {
                continue;
            }
            let lead = raw.len() - raw.trim_start().len();
            let first = &raw[lead..];
            let (piece, mut continues) = trim_continuation(first, escape);
            let mut out = Logical {
                text: piece.to_owned(),
                start_line: idx + 1,
                end_line: idx + 1,
                segments: vec![Segment {
                    offset: 0,
                    line: idx + 1,
                    column: raw[..lead].chars().count() + 1,
                }],
            };
            while continues && self.next < self.lines.len() {
                let idx = self.next;
                self.next += 1;
                let raw = self.lines[idx];
                out.end_line = idx + 1;
                if is_comment(raw) || raw.trim().is_empty() {
                    continue;
                }
                let (piece, c) = trim_continuation(raw, escape);
                continues = c;
                out.segments.push(Segment {
                    offset: out.text.len(),
                    line: idx + 1,
                    column: 1,
                });
                out.text.push_str(piece);
            }
            if out.text.trim().is_empty() {
                continue;
            }
            return Some(out);
        }
        None
    }

    /// Reads a heredoc body up to its terminator; `strip_tabs` for `<<-`. `None` when the
    /// file ends first.
    pub(crate) fn heredoc_body(&mut self, terminator: &str, strip_tabs: bool) -> Option<String> {
        let mut body = String::new();
        while self.next < self.lines.len() {
            let raw = self.lines[self.next];
            self.next += 1;
            let line = if strip_tabs {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if line == terminator {
                return Some(body);
            }
            body.push_str(line);
            body.push('\n');
        }
        None
    }

    /// The 1-based number of the last line read.
    pub(crate) fn line_number(&self) -> usize {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        let mut l = Lines::new(text).unwrap();
        std::iter::from_fn(|| l.next_logical())
            .map(|l| l.text)
            .collect()
    }

    #[test]
    fn continuations_and_comments_like_buildkit() {
        assert_eq!(
            all("FROM a\nRUN echo a \\\n  b \\\n# comment\n\n  c\n"),
            vec!["FROM a", "RUN echo a   b   c"]
        );
        assert_eq!(all("  # c\n\n\tRUN x\n"), vec!["RUN x"]);
    }

    #[test]
    fn directives_only_at_the_top() {
        let l = Lines::new("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(l.directives.escape, '`');
        assert_eq!(l.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        let l = Lines::new("FROM a\n# escape=`\n").unwrap();
        assert_eq!(l.directives.escape, '\\');
        let l = Lines::new("# comment\n# escape=`\n").unwrap();
        assert_eq!(l.directives.escape, '\\');
        assert!(Lines::new("# escape=x\n").is_err());
        assert!(Lines::new("# escape=`\n# escape=\\\n").is_err());
        assert_eq!(all("# escape=`\nRUN a `\n b\n"), vec!["RUN a  b"]);
    }

    #[test]
    fn positions_map_back_to_lines() {
        let mut l = Lines::new("FROM a\n  RUN x \\\n  y\n").unwrap();
        l.next_logical();
        let r = l.next_logical().unwrap();
        assert_eq!(r.text, "RUN x   y");
        assert_eq!(r.position(0), (2, 3));
        assert_eq!(r.position(6), (3, 1));
        assert_eq!(r.position(8), (3, 3));
    }
}
