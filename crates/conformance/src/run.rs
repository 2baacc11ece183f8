//! Replays a corpus against two daemons, side by side, and compares their answers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regex::Regex;
use serde_json::Value;

use crate::allow::AllowList;
use crate::compare::{Diff, Expect, compare};
use crate::corpus::{Corpus, Scenario, Step};
use crate::fixtures::{Fixture, IMAGE};
use crate::http::{self, Request};
use crate::observe::{Normaliser, Observed};

/// A daemon under comparison.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub socket: PathBuf,
    /// Its own paths (data root, exec root), replaced by `<root>` before comparing.
    pub roots: Vec<String>,
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// The API version every request is prefixed with (`/v1.41/...`) unless it names one.
    pub version: String,
    /// How long a step may take before its answer is cut.
    pub step_deadline: Duration,
    /// Only scenarios whose name contains this.
    pub only: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            version: "1.41".into(),
            step_deadline: Duration::from_secs(30),
            only: None,
        }
    }
}

/// The verdict on one compared step.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub req: String,
    pub endpoint: String,
    /// Differences not in the allow-list.
    pub diffs: Vec<Diff>,
    /// Differences the allow-list explains, with its reason.
    pub allowed: Vec<(Diff, String)>,
    /// berth has no route for it yet (its router's `page not found` where dockerd answered).
    pub unrouted: bool,
}

/// The verdict on one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub steps: Vec<StepResult>,
}

/// One daemon's run of a scenario: an answer (or failure) per compared step.
struct Played {
    answers: Vec<Result<Observed, String>>,
}

/// Replays every scenario of `corpus` on both daemons (each scenario on both at once) and
/// compares the answers.
pub fn run(
    corpus: &Corpus,
    allow: &AllowList,
    docker: &Target,
    berth: &Target,
    opts: &Options,
) -> Vec<ScenarioResult> {
    let mut out = Vec::new();
    let fixture = |t: &Target| {
        get_json(
            t,
            &versioned(&format!("/images/{IMAGE}/json"), &opts.version),
        )["Id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (docker_image, berth_image) = (fixture(docker), fixture(berth));
    for (i, s) in corpus.scenarios.iter().enumerate() {
        if opts.only.as_deref().is_some_and(|o| !s.name.contains(o)) {
            continue;
        }
        let prefix = format!("cf{i}-");
        let (d, b) = std::thread::scope(|scope| {
            let d = scope.spawn(|| play(docker, s, &prefix, opts, &docker_image));
            let b = scope.spawn(|| play(berth, s, &prefix, opts, &berth_image));
            (join(d), join(b))
        });
        out.push(judge(s, &prefix, &d, &b, allow));
    }
    out
}

fn join(h: std::thread::ScopedJoinHandle<'_, Played>) -> Played {
    h.join().unwrap_or_else(|_| Played {
        answers: vec![Err("the harness thread panicked".into())],
    })
}

fn judge(s: &Scenario, prefix: &str, d: &Played, b: &Played, allow: &AllowList) -> ScenarioResult {
    // Pointers may name scenario objects (`/Networks/{n1}`): the same on both daemons.
    let mut names = Vars {
        prefix: prefix.to_owned(),
        start: 0,
        map: HashMap::new(),
        bodies: HashMap::new(),
    };
    let mut pointers = |ps: &[String]| -> Vec<String> {
        ps.iter()
            .map(|p| names.subst(p).unwrap_or_else(|_| p.clone()))
            .collect()
    };
    let compared: Vec<&Step> = s.steps.iter().filter(|st| st.compare).collect();
    let mut steps = Vec::new();
    for (i, step) in compared.iter().enumerate() {
        let (method, target) = step.method_and_target().unwrap_or(("GET", "/"));
        let endpoint = step
            .endpoint
            .clone()
            .unwrap_or_else(|| crate::endpoints::classify(method, target));
        let missing = || Err("not reached (an earlier step failed)".to_owned());
        let da = d.answers.get(i).cloned().unwrap_or_else(missing);
        let ba = b.answers.get(i).cloned().unwrap_or_else(missing);
        let (raw, unrouted) = match (&da, &ba) {
            (Ok(x), Ok(y)) => {
                let unrouted = y.status == 404
                    && y.message.as_deref() == Some("page not found")
                    && x.message.as_deref() != Some("page not found");
                (
                    compare(
                        x,
                        y,
                        &Expect {
                            values: &pointers(&step.values),
                            exact: &pointers(&step.exact),
                            sort_by: step.sort_by.as_deref(),
                        },
                    ),
                    unrouted,
                )
            }
            (Err(e), _) => (vec![failure("dockerd", e)], false),
            (_, Err(e)) => (vec![failure("berth", e)], false),
        };
        let (mut diffs, mut allowed) = (Vec::new(), Vec::new());
        for x in raw {
            match allow.allows(&s.name, &endpoint, &step.req, &x) {
                Some(a) => allowed.push((x, a.reason.clone())),
                None => diffs.push(x),
            }
        }
        steps.push(StepResult {
            req: step.req.clone(),
            endpoint,
            diffs,
            allowed,
            unrouted,
        });
    }
    ScenarioResult {
        name: s.name.clone(),
        file: s.file.clone(),
        steps,
    }
}

fn failure(who: &str, e: &str) -> Diff {
    Diff {
        at: "run".into(),
        what: format!("{who}: {e}"),
    }
}

/// Variables of one scenario on one daemon.
struct Vars {
    prefix: String,
    start: u64,
    map: HashMap<String, String>,
    /// Answer bodies kept for later steps (`keep_body`).
    bodies: HashMap<String, Vec<u8>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Vars {
    /// Substitutes `{name}` (a scenario name: `<prefix>name`), `{name.field}` (captured),
    /// `{p}` (the prefix), `{start}` (unix seconds) and `{soon}` (a second from now).
    fn subst(&mut self, s: &str) -> Result<String, String> {
        static VAR: OnceLock<Regex> = OnceLock::new();
        let re = VAR.get_or_init(|| {
            Regex::new(r"\{([a-z_][a-z0-9_]*)(\.[a-z0-9_]+)?\}").unwrap_or_else(|e| panic!("{e}"))
        });
        let mut out = String::new();
        let mut last = 0;
        for c in re.captures_iter(s) {
            let whole = c.get(0).map_or(0..0, |m| m.range());
            out.push_str(&s[last..whole.start]);
            last = whole.end;
            let key = &s[whole.start + 1..whole.end - 1];
            let value = match key {
                "p" => self.prefix.clone(),
                "start" => self.start.to_string(),
                // The end of the current second: an `until` that takes in every event so far.
                "soon" => (now() + 1).to_string(),
                _ if key.contains('.') => self
                    .map
                    .get(key)
                    .cloned()
                    .ok_or_else(|| format!("unknown variable {{{key}}}"))?,
                _ => self
                    .map
                    .entry(key.to_owned())
                    .or_insert_with(|| format!("{}{key}", self.prefix))
                    .clone(),
            };
            out.push_str(&value);
        }
        out.push_str(&s[last..]);
        Ok(out)
    }
}

fn play(t: &Target, s: &Scenario, prefix: &str, opts: &Options, image_id: &str) -> Played {
    let norm = Normaliser {
        roots: t.roots.clone(),
    };
    let mut vars = Vars {
        prefix: prefix.to_owned(),
        start: now(),
        map: HashMap::new(),
        bodies: HashMap::new(),
    };
    let mut answers = Vec::new();
    let setup: Vec<Step> = s
        .needs
        .iter()
        .filter_map(|n| Fixture::parse(n).ok())
        .flat_map(|f| f.steps())
        .collect();
    let mut failed = false;
    for step in setup.iter().chain(&s.steps) {
        if failed {
            break;
        }
        let r = exec(t, step, &mut vars, &norm, opts);
        match (&r, step.compare) {
            (_, true) => answers.push(r),
            (Ok(o), false) if o.status < 400 => {}
            (Ok(o), false) => {
                failed = true;
                answers.push(Err(format!(
                    "setup {} failed: {} {}",
                    step.req,
                    o.status,
                    o.message.clone().unwrap_or_default()
                )));
            }
            (Err(_), false) => {
                failed = true;
                answers.push(r);
            }
        }
    }
    cleanup(t, opts, image_id);
    Played { answers }
}

/// Sends one step and observes the answer; records its captures.
fn exec(
    t: &Target,
    step: &Step,
    vars: &mut Vars,
    norm: &Normaliser,
    opts: &Options,
) -> Result<Observed, String> {
    if let Some(secs) = step.after {
        std::thread::sleep(Duration::from_secs_f64(secs));
    }
    let (method, target) = step.method_and_target()?;
    let target = vars.subst(target)?;
    let target = encode_target(&versioned(&target, &opts.version));
    let (body, content_type) = body_of(step, vars)?;
    let mut headers: Vec<(String, String)> = step
        .headers
        .iter()
        .map(|(k, v)| Ok((k.clone(), vars.subst(v)?)))
        .collect::<Result<_, String>>()?;
    if let Some(ct) = content_type
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), ct.into()));
    }
    let req = Request {
        method: method.to_owned(),
        target,
        headers,
        body,
        half_close: step.half_close,
    };
    let deadline = step
        .read_for
        .map_or(opts.step_deadline, Duration::from_secs_f64);
    let resp = http::send(&t.socket, &req, deadline).map_err(|e| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(c) = src {
            s.push_str(&format!(": {c}"));
            src = c.source();
        }
        s
    })?;
    if resp.cut && step.read_for.is_none() {
        return Err(format!(
            "{} {} did not finish within {:?}",
            req.method, req.target, deadline
        ));
    }
    if let Some(name) = &step.keep_body {
        vars.bodies.insert(name.clone(), resp.body.clone());
    }
    let o = norm.observe(&resp, step.stat_header.as_deref());
    for (var, pointer) in &step.capture {
        let v = match o.raw.pointer(pointer) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => return Err(format!("{}: no {pointer} to capture as {var}", step.req)),
        };
        vars.map.insert(var.clone(), v);
    }
    Ok(o)
}

fn versioned(target: &str, version: &str) -> String {
    let explicit = target
        .strip_prefix("/v")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    if explicit || version.is_empty() {
        target.to_owned()
    } else {
        format!("/v{version}{target}")
    }
}

/// Percent-encodes what may not appear raw in a request target (JSON in `filters=`, spaces
/// in names), so the corpus can be written readably.
fn encode_target(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            ' ' | '"' | '{' | '}' | '[' | ']' | '<' | '>' | '|' | '\\' | '^' | '`' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c if !c.is_ascii() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn body_of(step: &Step, vars: &mut Vars) -> Result<(Vec<u8>, Option<&'static str>), String> {
    if let Some(name) = &step.send_body {
        let b = vars
            .bodies
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{}: no kept body {name:?}", step.req))?;
        return Ok((b, Some("application/x-tar")));
    }
    if let Some(b) = &step.body {
        return Ok((vars.subst(b)?.into_bytes(), None));
    }
    if let Some(j) = &step.json {
        let v = serde_json::to_value(j).map_err(|e| format!("{}: json body: {e}", step.req))?;
        return Ok((vars.subst(&v.to_string())?.into_bytes(), None));
    }
    if let Some(files) = &step.tar {
        let mut b = tar::Builder::new(Vec::new());
        for (name, content) in files {
            let content = vars.subst(content)?;
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, content.as_bytes())
                .map_err(|e| format!("{}: tar body: {e}", step.req))?;
        }
        let bytes = b
            .into_inner()
            .map_err(|e| format!("{}: tar body: {e}", step.req))?;
        return Ok((bytes, Some("application/x-tar")));
    }
    Ok((Vec::new(), None))
}

fn get_json(t: &Target, target: &str) -> Value {
    let req = Request {
        method: "GET".into(),
        target: target.into(),
        ..Request::default()
    };
    http::send(&t.socket, &req, Duration::from_secs(30))
        .ok()
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or(Value::Null)
}

fn delete(t: &Target, target: &str) {
    let req = Request {
        method: "DELETE".into(),
        target: target.into(),
        ..Request::default()
    };
    let _ = http::send(&t.socket, &req, Duration::from_secs(60));
}

fn strings<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Leaves the daemon as the driver made it: busybox only, no containers, volumes or
/// user-defined networks. A scenario that untagged busybox gets it tagged back (from
/// `image_id`), so the next one starts from the same state.
fn cleanup(t: &Target, opts: &Options, image_id: &str) {
    let v = |p: &str| versioned(p, &opts.version);
    let list =
        |p: &str| -> Vec<Value> { get_json(t, &v(p)).as_array().cloned().unwrap_or_default() };
    for c in list("/containers/json?all=1") {
        if let Some(id) = c["Id"].as_str() {
            delete(t, &v(&format!("/containers/{id}?force=1&v=1")));
        }
    }
    for n in list("/networks") {
        let name = n["Name"].as_str().unwrap_or("");
        if !matches!(name, "bridge" | "host" | "none")
            && let Some(id) = n["Id"].as_str()
        {
            delete(t, &v(&format!("/networks/{id}")));
        }
    }
    let vols = get_json(t, &v("/volumes"));
    for vol in vols["Volumes"].as_array().into_iter().flatten() {
        if let Some(name) = vol["Name"].as_str() {
            delete(t, &v(&format!("/volumes/{name}?force=1")));
        }
    }
    if get_json(t, &v(&format!("/images/{IMAGE}/json")))["Id"].as_str() != Some(image_id) {
        let (repo, tag) = IMAGE.split_once(':').unwrap_or((IMAGE, "latest"));
        let req = Request {
            method: "POST".into(),
            target: v(&format!("/images/{image_id}/tag?repo={repo}&tag={tag}")),
            ..Request::default()
        };
        let _ = http::send(&t.socket, &req, Duration::from_secs(30));
    }
    for img in list("/images/json") {
        let tags: Vec<&str> = strings(&img, "RepoTags").collect();
        let id = img["Id"].as_str().unwrap_or_default();
        if tags.contains(&IMAGE) || id == image_id {
            for tag in tags.iter().filter(|t| **t != IMAGE) {
                delete(t, &v(&format!("/images/{tag}")));
            }
        } else if !id.is_empty() {
            delete(t, &v(&format!("/images/{id}?force=1")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_become_names_captures_and_times() {
        let mut v = Vars {
            prefix: "cf3-".into(),
            start: 42,
            map: HashMap::new(),
            bodies: HashMap::new(),
        };
        v.map.insert("c1.id".into(), "abc".into());
        assert_eq!(
            v.subst("/containers/{c1}/json?x={c1.id}&t={start}")
                .unwrap(),
            "/containers/cf3-c1/json?x=abc&t=42"
        );
        assert_eq!(
            v.subst(r#"{"Name":"{p}a b"}"#).unwrap(),
            r#"{"Name":"cf3-a b"}"#
        );
        assert!(v.subst("{nope.id}").is_err());
    }

    #[test]
    fn requests_carry_the_compared_version() {
        assert_eq!(versioned("/info", "1.41"), "/v1.41/info");
        assert_eq!(versioned("/v1.99/info", "1.41"), "/v1.99/info");
        assert_eq!(versioned("/volumes", "1.41"), "/v1.41/volumes");
        assert_eq!(
            encode_target(r#"/containers/json?filters={"name":["a b"]}"#),
            "/containers/json?filters=%7B%22name%22:%5B%22a%20b%22%5D%7D"
        );
    }
}
