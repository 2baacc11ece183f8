//! The Dockerfile language: text to typed instructions. Pure (no I/O); substitution of
//! variables happens later, at evaluation, because it depends on the build's state.

mod lines;
pub mod words;

use std::time::Duration;

pub use lines::Directives;
use lines::{Lines, Logical};
use words::{Flag, json_array, json_or_fields, leading_flags, parse_words};

use crate::error::ParseError;

/// Largest Dockerfile accepted (BuildKit's limit is similar in spirit: input is bounded).
pub const MAX_DOCKERFILE: usize = 8 << 20;

/// Shell form (run through the stage's SHELL) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdForm {
    Shell(String),
    Exec(Vec<String>),
}

/// A heredoc: `<<EOF` (expanded) or `<<"EOF"` (literal); `<<-` strips leading tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunCmd {
    pub cmd: Option<CmdForm>,
    pub heredocs: Vec<Heredoc>,
    /// `--mount=` values, parsed at evaluation.
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyCmd {
    pub sources: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthCmd {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From {
        image: String,
        stage: Option<String>,
        platform: Option<String>,
    },
    Arg(Vec<(String, Option<String>)>),
    Run(RunCmd),
    Cmd(CmdForm),
    Entrypoint(CmdForm),
    Copy(CopyCmd),
    Add(CopyCmd),
    /// Raw `name=value` pairs (values still quoted, substituted at evaluation).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Healthcheck(HealthCmd),
    Shell(Vec<String>),
    StopSignal(String),
    /// The trigger as written (`RUN echo hi`), checked to parse.
    Onbuild(String),
    Maintainer(String),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Self::From { .. } => "FROM",
            Self::Arg(_) => "ARG",
            Self::Run(_) => "RUN",
            Self::Cmd(_) => "CMD",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Copy(_) => "COPY",
            Self::Add(_) => "ADD",
            Self::Env(_) => "ENV",
            Self::Label(_) => "LABEL",
            Self::Workdir(_) => "WORKDIR",
            Self::User(_) => "USER",
            Self::Expose(_) => "EXPOSE",
            Self::Volume(_) => "VOLUME",
            Self::Healthcheck(_) => "HEALTHCHECK",
            Self::Shell(_) => "SHELL",
            Self::StopSignal(_) => "STOPSIGNAL",
            Self::Onbuild(_) => "ONBUILD",
            Self::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// One instruction and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    /// The instruction's text as joined from its lines (what `Step N/M :` prints).
    pub original: String,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    pub instructions: Vec<Instruction>,
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    if text.len() > MAX_DOCKERFILE {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: format!("the Dockerfile is larger than {MAX_DOCKERFILE} bytes"),
        });
    }
    let mut lines = Lines::new(text)?;
    let mut instructions = Vec::new();
    while let Some(logical) = lines.next_logical() {
        let mut ins = parse_logical(&logical, lines.directives.escape)?;
        read_heredocs(&mut ins, &logical, &mut lines)?;
        instructions.push(ins);
    }
    if instructions.is_empty() {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: "the Dockerfile (Dockerfile) cannot be empty".into(),
        });
    }
    Ok(Dockerfile {
        directives: lines.directives.clone(),
        instructions,
    })
}

/// Parses one instruction (also used for ONBUILD triggers).
fn parse_logical(l: &Logical, escape: char) -> Result<Instruction, ParseError> {
    let text = l.text.as_str();
    let word_end = text.find(char::is_whitespace).unwrap_or(text.len());
    let word = text[..word_end].to_ascii_uppercase();
    let rest_start = word_end + (text.len() - word_end - text[word_end..].trim_start().len());
    let ctx = Ctx {
        l,
        rest: &text[rest_start..],
        rest_offset: rest_start,
        escape,
        name: &word,
    };
    let command = ctx.command()?;
    let (line, column) = l.position(0);
    Ok(Instruction {
        line,
        column,
        end_line: l.end_line,
        original: text.to_owned(),
        command,
    })
}

struct Ctx<'a> {
    l: &'a Logical,
    rest: &'a str,
    rest_offset: usize,
    escape: char,
    name: &'a str,
}

impl Ctx<'_> {
    fn err(&self, offset: usize, msg: impl Into<String>) -> ParseError {
        self.l.error(self.rest_offset + offset, msg)
    }

    /// Flags allowed for this instruction; returns them and the text after them.
    fn flags(&self, allowed: &[&str]) -> Result<(Vec<Flag>, &str, usize), ParseError> {
        let (flags, at) = leading_flags(self.rest);
        for f in &flags {
            if !allowed.contains(&f.name.as_str()) {
                return Err(self.err(f.offset, format!("unknown flag: {}", f.name)));
            }
        }
        Ok((flags, self.rest[at..].trim(), at))
    }

    fn need(&self, ok: bool, msg: impl Into<String>) -> Result<(), ParseError> {
        if ok { Ok(()) } else { Err(self.err(0, msg)) }
    }

    fn command(&self) -> Result<Command, ParseError> {
        let n = self.name;
        Ok(match n {
            "FROM" => self.from()?,
            "ARG" => self.arg()?,
            "RUN" => Command::Run(self.run()?),
            "CMD" | "ENTRYPOINT" => {
                self.flags(&[])?;
                let form = maybe_json(self.rest);
                if n == "CMD" {
                    Command::Cmd(form)
                } else {
                    Command::Entrypoint(form)
                }
            }
            "COPY" => Command::Copy(self.copy(false)?),
            "ADD" => Command::Add(self.copy(true)?),
            "ENV" => Command::Env(self.name_values(false)?),
            "LABEL" => Command::Label(self.name_values(true)?),
            "WORKDIR" | "USER" | "STOPSIGNAL" | "MAINTAINER" => {
                let (_, rest, _) = self.flags(&[])?;
                self.need(
                    !rest.is_empty(),
                    format!("{n} requires exactly one argument"),
                )?;
                let s = rest.to_owned();
                match n {
                    "WORKDIR" => Command::Workdir(s),
                    "USER" => Command::User(s),
                    "STOPSIGNAL" => Command::StopSignal(s),
                    _ => Command::Maintainer(s),
                }
            }
            "EXPOSE" => {
                let (_, rest, _) = self.flags(&[])?;
                self.need(!rest.is_empty(), "EXPOSE requires at least one argument")?;
                Command::Expose(rest.split_whitespace().map(str::to_owned).collect())
            }
            "VOLUME" => {
                let (_, rest, _) = self.flags(&[])?;
                let (v, _) = json_or_fields(rest);
                self.need(!v.is_empty(), "VOLUME requires at least one argument")?;
                if v.iter().any(|s| s.trim().is_empty()) {
                    return Err(self.err(0, "VOLUME specified can not be an empty string"));
                }
                Command::Volume(v)
            }
            "SHELL" => {
                let (_, rest, _) = self.flags(&[])?;
                let v = json_array(rest).ok_or_else(|| {
                    self.err(0, "SHELL requires the arguments to be in JSON form")
                })?;
                self.need(!v.is_empty(), "SHELL requires at least one argument")?;
                Command::Shell(v)
            }
            "HEALTHCHECK" => Command::Healthcheck(self.healthcheck()?),
            "ONBUILD" => self.onbuild()?,
            "" => return Err(self.err(0, "empty instruction")),
            other => {
                return Err(self
                    .l
                    .error(0, format!("unknown instruction: {}", truncate(other, 64))));
            }
        })
    }

    fn from(&self) -> Result<Command, ParseError> {
        let (flags, rest, _) = self.flags(&["platform"])?;
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let stage = match parts.as_slice() {
            [_] => None,
            [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                let name = name.to_ascii_lowercase();
                if !valid_stage_name(&name) {
                    return Err(self.err(0, format!("invalid name for build stage: {name:?}, name can't start with a number or contain symbols")));
                }
                Some(name)
            }
            _ => {
                return Err(self.err(0, "FROM requires either one or three arguments"));
            }
        };
        Ok(Command::From {
            image: parts[0].to_owned(),
            stage,
            platform: flag_value(&flags, "platform"),
        })
    }

    fn arg(&self) -> Result<Command, ParseError> {
        let (_, rest, _) = self.flags(&[])?;
        let words = parse_words(rest, self.escape);
        self.need(!words.is_empty(), "ARG requires at least one argument")?;
        let mut out = Vec::new();
        for w in words {
            let (k, v) = match w.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (w, None),
            };
            if k.is_empty() {
                return Err(self.err(0, "ARG names can not be blank"));
            }
            out.push((k, v));
        }
        Ok(Command::Arg(out))
    }

    fn run(&self) -> Result<RunCmd, ParseError> {
        let (flags, rest, _) = self.flags(&["mount", "network", "security"])?;
        let heredoc_only = heredoc_marker(rest.trim()).is_some() && !rest.trim().contains(' ');
        let cmd = if rest.is_empty() {
            return Err(self.err(0, "RUN requires at least one argument"));
        } else if heredoc_only {
            None
        } else {
            Some(maybe_json(rest))
        };
        Ok(RunCmd {
            cmd,
            heredocs: Vec::new(),
            mounts: flags
                .iter()
                .filter(|f| f.name == "mount")
                .filter_map(|f| f.value.clone())
                .collect(),
            network: flag_value(&flags, "network"),
            security: flag_value(&flags, "security"),
        })
    }

    fn copy(&self, add: bool) -> Result<CopyCmd, ParseError> {
        let allowed: &[&str] = if add {
            &[
                "chown",
                "chmod",
                "link",
                "exclude",
                "checksum",
                "keep-git-dir",
                "parents",
            ]
        } else {
            &["from", "chown", "chmod", "link", "parents", "exclude"]
        };
        let (flags, rest, _) = self.flags(allowed)?;
        let (mut args, _) = json_or_fields(rest);
        let n = self.name;
        if args.len() < 2 {
            let heredoc = args.first().is_some_and(|a| heredoc_marker(a).is_some());
            if !heredoc || args.len() < 2 {
                return Err(self.err(0, format!("{n} requires at least two arguments, but only one was provided. Destination could not be determined.")));
            }
        }
        let dest = args.pop().unwrap_or_default();
        let bool_flag = |name: &str| -> Result<bool, ParseError> {
            match flags.iter().rfind(|f| f.name == name) {
                None => Ok(false),
                Some(f) => match f.value.as_deref() {
                    None | Some("true") => Ok(true),
                    Some("false") => Ok(false),
                    Some(v) => Err(self.err(
                        f.offset,
                        format!("expecting boolean value for flag {name}, not: {v}"),
                    )),
                },
            }
        };
        Ok(CopyCmd {
            sources: args,
            dest,
            heredocs: Vec::new(),
            from: flag_value(&flags, "from"),
            chown: flag_value(&flags, "chown"),
            chmod: flag_value(&flags, "chmod"),
            link: bool_flag("link")?,
            parents: bool_flag("parents")?,
            excludes: flags
                .iter()
                .filter(|f| f.name == "exclude")
                .filter_map(|f| f.value.clone())
                .collect(),
            checksum: flag_value(&flags, "checksum"),
            keep_git_dir: bool_flag("keep-git-dir")?,
        })
    }

    /// ENV and LABEL: `k=v ...` or the legacy `k v`.
    fn name_values(&self, label: bool) -> Result<Vec<(String, String)>, ParseError> {
        let (_, rest, _) = self.flags(&[])?;
        let n = self.name;
        let words = parse_words(rest, self.escape);
        if words.is_empty() {
            return Err(self.err(0, format!("{n} requires at least one argument")));
        }
        if !words[0].contains('=') {
            let mut parts = rest.splitn(2, char::is_whitespace);
            let k = parts.next().unwrap_or_default();
            let v = parts.next().map(str::trim_start).unwrap_or_default();
            if v.is_empty() && !label {
                return Err(self.err(0, format!("{n} must have two arguments")));
            }
            return Ok(vec![(k.to_owned(), v.to_owned())]);
        }
        let mut out = Vec::new();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(self.err(
                    0,
                    format!(
                        "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                    ),
                ));
            };
            if k.is_empty() {
                return Err(self.err(0, format!("{n} names can not be blank")));
            }
            out.push((k.to_owned(), v.to_owned()));
        }
        Ok(out)
    }

    fn healthcheck(&self) -> Result<HealthCmd, ParseError> {
        let (flags, rest, _) = self.flags(&[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ])?;
        let (kind, args) = rest
            .split_once(char::is_whitespace)
            .map_or((rest, ""), |(k, a)| (k, a.trim()));
        let mut h = HealthCmd::default();
        match kind.to_ascii_uppercase().as_str() {
            "NONE" => {
                if !args.is_empty() || !flags.is_empty() {
                    return Err(self.err(0, "HEALTHCHECK NONE takes no arguments"));
                }
                h.test = vec!["NONE".into()];
                return Ok(h);
            }
            "CMD" => {
                if args.is_empty() {
                    return Err(self.err(0, "Missing command after HEALTHCHECK CMD"));
                }
                h.test = match maybe_json(args) {
                    CmdForm::Exec(v) => std::iter::once("CMD".to_owned()).chain(v).collect(),
                    CmdForm::Shell(s) => vec!["CMD-SHELL".into(), s],
                };
            }
            "" => return Err(self.err(0, "HEALTHCHECK requires an argument")),
            other => {
                return Err(self.err(
                    0,
                    format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)"),
                ));
            }
        }
        for f in &flags {
            let v = f.value.clone().unwrap_or_default();
            let bad = |e: String| self.err(f.offset, e);
            match f.name.as_str() {
                "retries" => {
                    let r: i64 = v
                        .parse()
                        .map_err(|_| bad(format!("invalid value for --retries: {v:?}")))?;
                    if r < 0 {
                        return Err(bad("--retries cannot be negative".into()));
                    }
                    h.retries = Some(r);
                }
                name => {
                    let d = parse_duration(&v)
                        .ok_or_else(|| bad(format!("time: invalid duration \"{v}\"")))?;
                    if d != Duration::ZERO && d < Duration::from_millis(1) {
                        return Err(bad(format!("Interval \"{name}\" cannot be less than 1ms")));
                    }
                    match name {
                        "interval" => h.interval = Some(d),
                        "timeout" => h.timeout = Some(d),
                        "start-period" => h.start_period = Some(d),
                        _ => h.start_interval = Some(d),
                    }
                }
            }
        }
        Ok(h)
    }

    fn onbuild(&self) -> Result<Command, ParseError> {
        let (_, rest, _) = self.flags(&[])?;
        self.need(!rest.is_empty(), "ONBUILD requires at least one argument")?;
        let trigger = rest
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match trigger.as_str() {
            "ONBUILD" => {
                return Err(self.err(0, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
            }
            "MAINTAINER" | "FROM" => {
                return Err(self.err(0, format!("{trigger} isn't allowed as an ONBUILD trigger")));
            }
            _ => {}
        }
        let nested = Logical::from_text(rest, self.l.position(self.rest_offset));
        parse_logical(&nested, self.escape)?;
        Ok(Command::Onbuild(rest.to_owned()))
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn flag_value(flags: &[Flag], name: &str) -> Option<String> {
    flags
        .iter()
        .rfind(|f| f.name == name)
        .map(|f| f.value.clone().unwrap_or_default())
}

fn valid_stage_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `parseMaybeJSON`: a JSON array of strings is the exec form; anything else the shell form.
pub fn maybe_json(rest: &str) -> CmdForm {
    match json_array(rest) {
        Some(v) => CmdForm::Exec(v),
        None => CmdForm::Shell(rest.to_owned()),
    }
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` → (name, strip tabs, expand).
pub fn heredoc_marker(word: &str) -> Option<(String, bool, bool)> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (strip, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (name, quoted) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => (rest.strip_prefix(q)?.strip_suffix(q)?, true),
        _ => (rest, false),
    };
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then(|| (name.to_owned(), strip, !quoted))
}

/// Reads the bodies of the heredocs an instruction names, in order.
fn read_heredocs(
    ins: &mut Instruction,
    l: &Logical,
    lines: &mut Lines<'_>,
) -> Result<(), ParseError> {
    let text = match &ins.command {
        Command::Run(_) | Command::Copy(_) | Command::Add(_) => l.text.clone(),
        _ => return Ok(()),
    };
    let mut docs = Vec::new();
    for w in parse_words(&text, '\u{0}') {
        let Some((name, strip, expand)) = heredoc_marker(&w) else {
            continue;
        };
        let Some(content) = lines.heredoc_body(&name, strip) else {
            return Err(ParseError {
                line: lines.line_number(),
                column: 1,
                message: format!("unterminated heredoc {name}"),
            });
        };
        docs.push(Heredoc {
            name,
            content,
            expand,
        });
    }
    ins.end_line = ins.end_line.max(lines.line_number());
    match &mut ins.command {
        Command::Run(r) => r.heredocs = docs,
        Command::Copy(c) | Command::Add(c) => {
            for d in &docs {
                c.sources
                    .retain(|s| heredoc_marker(s).is_none_or(|(n, _, _)| n != d.name));
            }
            c.heredocs = docs;
        }
        _ => {}
    }
    Ok(())
}

/// Go's `time.ParseDuration` for the units Dockerfiles use.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * mult;
    }
    (total.is_finite() && total < 1e9).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests;
