//! Variable substitution in Dockerfile words, as BuildKit's `shell.Lex` does it: quotes,
//! the escape character, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`, `${VAR?message}`.

use std::iter::Peekable;
use std::str::Chars;

/// Names to values (the build's environment and arguments at this step).
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [String] {
    /// `KEY=value` pairs; the last definition wins.
    fn get(&self, name: &str) -> Option<String> {
        self.iter().rev().find_map(|kv| match kv.split_once('=') {
            Some((k, v)) if k == name => Some(v.to_owned()),
            None if kv == name => Some(String::new()),
            _ => None,
        })
    }
}

impl Vars for Vec<String> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

/// A substitution error (`syntax error: missing '}'`, `X: is not allowed to be unset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellError(pub String);

impl std::fmt::Display for ShellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Res<T> = Result<T, ShellError>;

fn err<T>(m: impl Into<String>) -> Res<T> {
    Err(ShellError(m.into()))
}

/// Words as they are split after substitution: quoted parts never split, `$VAR` results
/// split on blanks, unquoted blanks end a word.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    cur: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            self.end();
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.cur.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.cur.push_str(s);
        self.in_word = true;
    }
    fn end(&mut self) {
        if self.in_word {
            self.words.push(std::mem::take(&mut self.cur));
            self.in_word = false;
        }
    }
}

struct Lexer<'a, V: Vars + ?Sized> {
    chars: Peekable<Chars<'a>>,
    escape: char,
    vars: &'a V,
    /// Quotes are plain text (heredoc bodies).
    raw_quotes: bool,
}

impl<V: Vars + ?Sized> Lexer<'_, V> {
    /// Reads up to `stop` (consumed) or the end; returns the text and its words.
    fn until(&mut self, stop: Option<char>) -> Res<(String, Words)> {
        let mut out = String::new();
        let mut words = Words::default();
        while let Some(&c) = self.chars.peek() {
            if Some(c) == stop {
                self.chars.next();
                words.end();
                return Ok((out, words));
            }
            match c {
                '\'' | '"' if self.raw_quotes => {
                    self.chars.next();
                    words.add_char(c);
                    out.push(c);
                }
                '\'' => {
                    let s = self.single_quoted()?;
                    words.add_raw_string(&s);
                    out.push_str(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    words.add_raw_string(&s);
                    out.push_str(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    words.add_string(&s);
                    out.push_str(&s);
                }
                _ => {
                    self.chars.next();
                    if c == self.escape {
                        let Some(n) = self.chars.next() else { break };
                        words.add_raw_char(n);
                        out.push(n);
                    } else {
                        words.add_char(c);
                        out.push(c);
                    }
                }
            }
        }
        if stop.is_some() {
            return err("syntax error: missing '}'");
        }
        words.end();
        Ok((out, words))
    }

    fn single_quoted(&mut self) -> Res<String> {
        self.chars.next();
        let mut s = String::new();
        loop {
            match self.chars.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    );
                }
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Res<String> {
        self.chars.next();
        let mut s = String::new();
        loop {
            let Some(&c) = self.chars.peek() else {
                return err("unexpected end of statement while looking for matching double-quote");
            };
            match c {
                '"' => {
                    self.chars.next();
                    return Ok(s);
                }
                '$' => s.push_str(&self.dollar()?),
                _ => {
                    self.chars.next();
                    if c == self.escape {
                        match self.chars.peek().copied() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.chars.next();
                                s.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    s.push(c);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(&d) = self.chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    name.push(d);
                    self.chars.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.chars.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.chars.next();
        }
        name
    }

    fn dollar(&mut self) -> Res<String> {
        self.chars.next();
        if self.chars.peek() != Some(&'{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.vars.get(&name).unwrap_or_default());
        }
        self.chars.next();
        match self.chars.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return err("syntax error: bad substitution"),
            _ => {}
        }
        let name = self.name();
        let value = self.vars.get(&name);
        match self.chars.next() {
            Some('}') => Ok(value.unwrap_or_default()),
            Some(':') => {
                let modifier = self.chars.next();
                let (word, _) = self.until(Some('}'))?;
                let v = value.clone().unwrap_or_default();
                match modifier {
                    Some('+') => Ok(if v.is_empty() { String::new() } else { word }),
                    Some('-') => Ok(if v.is_empty() { word } else { v }),
                    Some('?') => {
                        if value.is_none() {
                            return err(unset_msg(&name, &word, "is not allowed to be unset"));
                        }
                        if v.is_empty() {
                            return err(unset_msg(&name, &word, "is not allowed to be empty"));
                        }
                        Ok(v)
                    }
                    Some(m) => err(format!("unsupported modifier ({m}) in substitution")),
                    None => err("syntax error: missing '}'"),
                }
            }
            Some(m @ ('+' | '-' | '?')) => {
                let (word, _) = self.until(Some('}'))?;
                match (m, value) {
                    ('+', Some(_)) => Ok(word),
                    ('+', None) => Ok(String::new()),
                    ('-', Some(v)) => Ok(v),
                    ('-', None) => Ok(word),
                    (_, Some(v)) => Ok(v),
                    (_, None) => err(unset_msg(&name, &word, "is not allowed to be unset")),
                }
            }
            None => err("syntax error: missing '}'"),
            Some(_) => err("missing ':' in substitution"),
        }
    }
}

fn unset_msg(name: &str, word: &str, default: &str) -> String {
    format!("{name}: {}", if word.is_empty() { default } else { word })
}

/// One word, quotes removed and variables substituted.
pub fn process_word<V: Vars + ?Sized>(
    word: &str,
    vars: &V,
    escape: char,
) -> Result<String, ShellError> {
    let mut l = Lexer {
        chars: word.chars().peekable(),
        escape,
        vars,
        raw_quotes: false,
    };
    l.until(None).map(|(s, _)| s)
}

/// Substitutes variables in a heredoc body: quotes are text, `\$` is a literal `$`.
pub fn expand_text<V: Vars + ?Sized>(text: &str, vars: &V) -> Result<String, ShellError> {
    let mut l = Lexer {
        chars: text.chars().peekable(),
        escape: '\u{0}',
        vars,
        raw_quotes: true,
    };
    let mut out = String::new();
    while let Some(&c) = l.chars.peek() {
        if c == '\\' {
            l.chars.next();
            if l.chars.peek() == Some(&'$') {
                l.chars.next();
                out.push('$');
            } else {
                out.push('\\');
            }
        } else if c == '$' {
            out.push_str(&l.dollar()?);
        } else {
            l.chars.next();
            out.push(c);
        }
    }
    Ok(out)
}

/// Substitutes and splits into words (for EXPOSE and the like).
pub fn process_words<V: Vars + ?Sized>(
    word: &str,
    vars: &V,
    escape: char,
) -> Result<Vec<String>, ShellError> {
    let mut l = Lexer {
        chars: word.chars().peekable(),
        escape,
        vars,
        raw_quotes: false,
    };
    l.until(None).map(|(_, w)| w.words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> String {
        let env: Vec<String> = vec!["A=a".into(), "E=".into(), "SP=x y".into()];
        process_word(s, &env, '\\').unwrap()
    }

    #[test]
    fn substitutions_like_buildkit() {
        assert_eq!(w("$A"), "a");
        assert_eq!(w("${A}b"), "ab");
        assert_eq!(w("${N:-d}"), "d");
        assert_eq!(w("${E:-d}"), "d");
        assert_eq!(w("${E-d}"), "");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${E:+alt}"), "");
        assert_eq!(w("${E+alt}"), "alt");
        assert_eq!(w("${N:-$A}"), "a");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "a b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"\\$A\""), "$A");
        assert_eq!(w("\"a\\nb\""), "a\\nb");
        assert_eq!(w("$"), "$");
        assert_eq!(w("a$N-b"), "a-b");
        let env: Vec<String> = vec![];
        assert!(
            process_word("${X:?must}", &env, '\\')
                .unwrap_err()
                .0
                .contains("X: must")
        );
        assert!(process_word("${X", &env, '\\').is_err());
        assert!(process_word("${}", &env, '\\').is_err());
        assert!(process_word("'abc", &env, '\\').is_err());
    }

    #[test]
    fn words_split_only_unquoted() {
        let env: Vec<String> = vec!["P=80 443".into()];
        assert_eq!(
            process_words("$P 22", &env, '\\').unwrap(),
            vec!["80", "443", "22"]
        );
        assert_eq!(
            process_words("\"$P\" 22", &env, '\\').unwrap(),
            vec!["80 443", "22"]
        );
    }

    #[test]
    fn backtick_escape() {
        let env: Vec<String> = vec![];
        assert_eq!(process_word("c:\\dir`$x", &env, '`').unwrap(), "c:\\dir$x");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Build args and ENV values are outside input: substitution of any text, with any
        /// escape character, is a result or an error, never a panic.
        #[test]
        fn substitution_never_panics(
            word in "([a-zA-Z0-9 =\"'`\\${}:+?#%/-]|\\$\\{[A-Z]{0,3}(:?[-+?][a-z$]{0,3})?\\}?){0,24}",
            escape in proptest::prop_oneof![proptest::strategy::Just('\\'), proptest::strategy::Just('`')],
        ) {
            let env: Vec<String> = vec!["A=1".into(), "EMPTY=".into(), "SP=a b".into()];
            let _ = process_word(&word, &env, escape);
            let _ = process_words(&word, &env, escape);
            let _ = expand_text(&word, &env);
        }
    }
}
