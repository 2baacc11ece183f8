//! `.dockerignore` with Docker's semantics (moby/patternmatcher): patterns are cleaned
//! paths relative to the context root, `*` and `?` stay within one path element, `**`
//! spans any number of them, `[...]` classes, `\` escapes; a path is excluded when the last
//! pattern that matches it or one of its parent directories is not a `!` exception.

use regex::Regex;

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    re: Regex,
    /// The cleaned text (`!` removed), to tell whether a directory may hold re-included files.
    text: String,
}

/// A parsed ignore file.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// `filepath.Clean` for slash paths.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|p| *p != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                }
                if i + 1 >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => match chars.get(i + 1) {
                Some(n) => {
                    re.push_str(&regex::escape(&n.to_string()));
                    i += 1;
                }
                None => re.push_str("\\\\"),
            },
            '[' | ']' => re.push(c),
            _ => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Regex::new(&re).map_err(|e| format!("invalid pattern {pattern:?}: {e}"))
}

impl Ignore {
    /// Parses an ignore file's text; an invalid pattern is an error (as with Docker).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err("illegal exclusion pattern: \"!\"".into());
            }
            let mut cleaned = clean(body);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let re = compile(&cleaned)?;
            patterns.push(Pattern {
                exclusion,
                re,
                text: cleaned,
            });
        }
        Ok(Self { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative, slash-separated) is excluded from the context.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.re.is_match(&path);
            if !hit && parents.len() > 1 {
                for i in 1..parents.len() {
                    if p.re.is_match(&parents[..i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether an excluded directory may still hold re-included files (so a walk must enter it).
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.patterns.iter().any(|p| {
            p.exclusion
                && (p.text.starts_with(&format!("{dir}/"))
                    || p.text.contains('*')
                    || p.text.contains('?')
                    || p.text.contains('['))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(t: &str) -> Ignore {
        Ignore::parse(t).unwrap()
    }

    #[test]
    fn docker_semantics() {
        let i = ig("# comment\n*.md\n!README.md\nbuild/\n**/*.tmp\n/abs\ntemp?\n");
        assert!(i.excludes("a.md"));
        assert!(!i.excludes("README.md"));
        assert!(!i.excludes("docs/a.md"), "* does not cross /");
        assert!(
            i.excludes("build/x/y"),
            "a directory excludes what is under it"
        );
        assert!(i.excludes("x/y/z.tmp"));
        assert!(i.excludes("z.tmp"), "**/ matches no directory too");
        assert!(i.excludes("abs"));
        assert!(i.excludes("temp1"));
        assert!(!i.excludes("temp12"));
        assert!(!i.excludes("src/main.rs"));
    }

    #[test]
    fn last_match_wins() {
        let i = ig("dir\n!dir/keep\n");
        assert!(i.excludes("dir/other"));
        assert!(!i.excludes("dir/keep"));
        assert!(i.may_reinclude_under("dir"));
        let i = ig("**\n!src/**\n");
        assert!(i.excludes("x"));
        assert!(!i.excludes("src/a/b"));
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("/a/../.."), "/");
        assert_eq!(clean(""), ".");
        assert!(Ignore::parse("!\n").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// A context's `.dockerignore` is outside input: any text parses or is an error, and
        /// what parses answers for any path, never a panic.
        #[test]
        fn any_ignore_file_and_path_is_answered(
            lines in proptest::collection::vec("!?/?([a-z.*?\\[\\]^/-]|\\*\\*){0,10}", 0..8),
            path in "(/?[a-z.*?]{0,4}){0,5}",
        ) {
            if let Ok(i) = Ignore::parse(&lines.join("\n")) {
                let _ = i.excludes(&path);
                let _ = i.may_reinclude_under(&path);
                let _ = clean(&path);
            }
        }
    }
}
