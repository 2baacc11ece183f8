//! The state a scenario needs, made through the API on each daemon before its steps run.

use crate::corpus::Step;

/// The image every fixture uses (imported by the driver on both daemons).
pub const IMAGE: &str = "busybox:latest";

/// A long-running command that exits at once on SIGTERM (pid 1 ignores SIGTERM unless it
/// traps it, and `stop` would otherwise wait for its timeout).
pub const LONG_RUNNING: &str = r#"["sh","-c","trap 'exit 0' TERM; sleep 600 & wait"]"#;

/// A command that writes to both streams and exits 3.
pub const SHORT_LIVED: &str = r#"["sh","-c","echo out; echo err >&2; exit 3"]"#;

/// One fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fixture {
    /// A created (never started) container running [`LONG_RUNNING`] once started.
    Container(String),
    /// The same, started.
    Running(String),
    /// A container that ran [`SHORT_LIVED`] and exited 3.
    Exited(String),
    Network(String),
    Volume(String),
    /// A tag of [`IMAGE`] named after the variable.
    Image(String),
}

impl Fixture {
    /// `"running c1"` → `Running("c1")`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, var) = s
            .split_once(' ')
            .ok_or_else(|| format!("fixture {s:?}: expected \"<kind> <variable>\""))?;
        let var = var.trim().to_owned();
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("fixture {s:?}: bad variable name"));
        }
        Ok(match kind {
            "container" => Self::Container(var),
            "running" => Self::Running(var),
            "exited" => Self::Exited(var),
            "network" => Self::Network(var),
            "volume" => Self::Volume(var),
            "image" => Self::Image(var),
            _ => return Err(format!("fixture {s:?}: unknown kind {kind:?}")),
        })
    }

    /// The setup requests, with `{var}` still to substitute. Created objects' ids are captured
    /// as `{var.id}`.
    pub fn steps(&self) -> Vec<Step> {
        let create = |var: &str, cmd: &str| {
            setup(
                &format!("POST /containers/create?name={{{var}}}"),
                Some(format!(
                    r#"{{"Image":"{IMAGE}","Cmd":{cmd},"Labels":{{"berth.conformance":"{{p}}"}}}}"#
                )),
                Some((format!("{var}.id"), "/Id".to_owned())),
            )
        };
        match self {
            Self::Container(v) => vec![create(v, LONG_RUNNING)],
            Self::Running(v) => vec![
                create(v, LONG_RUNNING),
                setup(&format!("POST /containers/{{{v}}}/start"), None, None),
            ],
            Self::Exited(v) => vec![
                create(v, SHORT_LIVED),
                setup(&format!("POST /containers/{{{v}}}/start"), None, None),
                setup(&format!("POST /containers/{{{v}}}/wait"), None, None),
            ],
            Self::Network(v) => vec![setup(
                "POST /networks/create",
                Some(format!(
                    r#"{{"Name":"{{{v}}}","Labels":{{"berth.conformance":"{{p}}"}}}}"#
                )),
                Some((format!("{v}.id"), "/Id".to_owned())),
            )],
            Self::Volume(v) => vec![setup(
                "POST /volumes/create",
                Some(format!(
                    r#"{{"Name":"{{{v}}}","Labels":{{"berth.conformance":"{{p}}"}}}}"#
                )),
                None,
            )],
            Self::Image(v) => vec![setup(
                &format!("POST /images/{IMAGE}/tag?repo={{{v}}}&tag=latest"),
                None,
                None,
            )],
        }
    }
}

fn setup(req: &str, body: Option<String>, capture: Option<(String, String)>) -> Step {
    Step {
        req: req.to_owned(),
        body,
        json: None,
        tar: None,
        headers: Default::default(),
        compare: false,
        values: Vec::new(),
        exact: Vec::new(),
        sort_by: None,
        keep_body: None,
        send_body: None,
        read_for: None,
        half_close: false,
        capture: capture.into_iter().collect(),
        stat_header: None,
        after: None,
        endpoint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_parse_and_expand() {
        let f = Fixture::parse("running c1").unwrap();
        assert_eq!(f, Fixture::Running("c1".into()));
        let steps = f.steps();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].req, "POST /containers/create?name={c1}");
        assert_eq!(steps[0].capture["c1.id"], "/Id");
        assert!(Fixture::parse("running").is_err());
        assert!(Fixture::parse("flying c1").is_err());
        assert!(Fixture::parse("volume a/b").is_err());
    }
}
