//! Word splitting the way BuildKit's parser does it before any substitution: flags
//! (`extractBuilderFlags`), `name=value` lists (`parseWords`), JSON arrays.

/// A `--name[=value]` flag and where it starts in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
    pub offset: usize,
}

/// Splits leading `--flag` words off `line`; returns them and the offset of the rest.
pub fn leading_flags(line: &str) -> (Vec<Flag>, usize) {
    let bytes = line.as_bytes();
    let mut flags = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if !line[pos..].starts_with("--") {
            return (flags, pos);
        }
        let start = pos;
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut chars = line[pos..].char_indices().peekable();
        let mut end = line.len();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = pos + i;
                    break;
                }
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
        }
        pos = end;
        if word == "--" {
            return (flags, pos);
        }
        let body = &word[2..];
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (body.to_owned(), None),
        };
        flags.push(Flag {
            name,
            value,
            offset: start,
        });
    }
}

/// `parseWords`: blank-separated words; quotes are kept but protect blanks; the escape
/// character protects the next character.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            if c == escape && q != '\'' {
                match chars.next() {
                    Some(n) => {
                        word.push(c);
                        word.push(n);
                    }
                    None => quote = None,
                }
                continue;
            }
            word.push(c);
            continue;
        }
        if c.is_whitespace() {
            if in_word && (blank_ok || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            word.clear();
            in_word = false;
            blank_ok = false;
            continue;
        }
        in_word = true;
        if c == '\'' || c == '"' {
            quote = Some(c);
            blank_ok = true;
        }
        if c == escape {
            if let Some(n) = chars.next() {
                word.push(c);
                word.push(n);
            }
            continue;
        }
        word.push(c);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// A JSON array of strings, if `rest` is one.
pub fn json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// `parseMaybeJSONToList`: a JSON array, else blank-separated words.
pub fn json_or_fields(rest: &str) -> (Vec<String>, bool) {
    match json_array(rest) {
        Some(v) => (v, true),
        None => (rest.split_whitespace().map(str::to_owned).collect(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_the_first_word() {
        let (f, rest) = leading_flags("--from=base --chown=\"1 2\" --link a b --c");
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, "from");
        assert_eq!(f[0].value.as_deref(), Some("base"));
        assert_eq!(f[1].value.as_deref(), Some("1 2"));
        assert_eq!(f[2].value, None);
        assert_eq!(
            &"--from=base --chown=\"1 2\" --link a b --c"[rest..],
            "a b --c"
        );
        let (f, rest) = leading_flags("-- --x");
        assert!(f.is_empty());
        assert_eq!(&"-- --x"[rest..], " --x");
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            parse_words("a=1 b=\"x y\" 'c d'=e", '\\'),
            vec!["a=1", "b=\"x y\"", "'c d'=e"]
        );
        assert_eq!(parse_words("a\\ b c", '\\'), vec!["a\\ b", "c"]);
        assert_eq!(parse_words("x=\"\"", '\\'), vec!["x=\"\""]);
    }

    #[test]
    fn json_or_not() {
        assert_eq!(
            json_array(r#"["a", "b"]"#),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(json_array("[a]"), None);
        assert_eq!(json_or_fields("a  b").0, vec!["a", "b"]);
    }
}
