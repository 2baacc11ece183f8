//! Build arguments and their scopes, as Docker's `BuildArgs`: `--build-arg` values, ARGs
//! before the first FROM (meta args, visible to FROM lines), ARGs declared in a stage (visible
//! from their declaration on), the proxy variables every step may use, and BuildKit's
//! predefined platform args.

use std::collections::{BTreeMap, BTreeSet};

/// The proxy variables a step sees without declaring them (and history hides).
pub const BUILTIN: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// `linux/amd64` and its parts, for TARGETPLATFORM and friends.
pub fn platform_args(platform: &str) -> Vec<(String, String)> {
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or("linux").to_owned();
    let arch = parts.next().unwrap_or("amd64").to_owned();
    let variant = parts.next().unwrap_or("").to_owned();
    let mut out = Vec::new();
    for prefix in ["TARGET", "BUILD"] {
        out.push((format!("{prefix}PLATFORM"), platform.to_owned()));
        out.push((format!("{prefix}OS"), os.clone()));
        out.push((format!("{prefix}ARCH"), arch.clone()));
        out.push((format!("{prefix}VARIANT"), variant.clone()));
    }
    out
}

/// The build's arguments.
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    /// `--build-arg` (a `None` value: declared without a value and not in the client's env).
    pub options: BTreeMap<String, Option<String>>,
    /// Meta args (before the first FROM), with their resolved values.
    pub meta: BTreeMap<String, Option<String>>,
    /// Names some ARG declared (to warn about unused `--build-arg`s).
    pub referenced: BTreeSet<String>,
}

impl BuildArgs {
    pub fn new(options: BTreeMap<String, Option<String>>, platform: &str) -> Self {
        let meta = platform_args(platform)
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        Self {
            options,
            meta,
            referenced: BTreeSet::new(),
        }
    }

    /// A meta ARG: the option's value if given, else the (already substituted) default.
    pub fn declare_meta(&mut self, name: &str, default: Option<String>) {
        self.referenced.insert(name.to_owned());
        let v = match self.options.get(name) {
            Some(Some(v)) => Some(v.clone()),
            _ => default,
        };
        self.meta.insert(name.to_owned(), v);
    }

    /// Meta args as `K=V` (for FROM substitution).
    pub fn meta_env(&self) -> Vec<String> {
        self.meta
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect()
    }

    /// `--build-arg`s no ARG declared (Docker's warning lists them).
    pub fn unused(&self) -> Vec<String> {
        self.options
            .keys()
            .filter(|k| !self.referenced.contains(*k) && !BUILTIN.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// The args one stage has declared so far.
#[derive(Debug, Clone, Default)]
pub struct StageArgs {
    allowed: BTreeMap<String, Option<String>>,
}

impl StageArgs {
    pub fn declare(&mut self, all: &mut BuildArgs, name: &str, default: Option<String>) {
        all.referenced.insert(name.to_owned());
        self.allowed.insert(name.to_owned(), default);
    }

    /// One arg's value: the option, else the stage default, else the meta arg's.
    fn value(
        &self,
        all: &BuildArgs,
        name: &str,
        default: Option<&Option<String>>,
    ) -> Option<String> {
        if let Some(Some(v)) = all.options.get(name) {
            return Some(v.clone());
        }
        match default {
            Some(Some(d)) => Some(d.clone()),
            _ => all.meta.get(name).cloned().flatten(),
        }
    }

    /// `FilterAllowed`: declared args (and given proxies) with a value, as `K=V`, except
    /// those `env` defines; sorted by name.
    pub fn allowed(&self, all: &BuildArgs, env: &[String]) -> Vec<String> {
        let in_env = |k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
        let mut names: BTreeSet<&str> = self.allowed.keys().map(String::as_str).collect();
        for b in BUILTIN {
            if all.options.contains_key(*b) {
                names.insert(b);
            }
        }
        names
            .into_iter()
            .filter(|k| !in_env(k))
            .filter_map(|k| {
                self.value(all, k, self.allowed.get(k))
                    .map(|v| format!("{k}={v}"))
            })
            .collect()
    }

    /// Whether history shows this arg (`IsReferencedOrNotBuiltin`).
    pub fn shown(&self, name: &str) -> bool {
        self.allowed.contains_key(name) || !BUILTIN.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoping_like_docker() {
        let mut all = BuildArgs::new(
            [
                ("A".to_owned(), Some("opt".to_owned())),
                ("HTTP_PROXY".to_owned(), Some("p".to_owned())),
                ("X".to_owned(), Some("x".to_owned())),
            ]
            .into_iter()
            .collect(),
            "linux/amd64",
        );
        all.declare_meta("V", Some("1".into()));
        let mut s = StageArgs::default();
        assert_eq!(s.allowed(&all, &[]), vec!["HTTP_PROXY=p"]);
        s.declare(&mut all, "A", Some("def".into()));
        s.declare(&mut all, "V", None);
        s.declare(&mut all, "B", Some("b".into()));
        assert_eq!(
            s.allowed(&all, &["B=env".into()]),
            vec!["A=opt", "HTTP_PROXY=p", "V=1"]
        );
        assert!(!s.shown("HTTP_PROXY"));
        assert_eq!(all.unused(), vec!["X"]);
        assert!(all.meta_env().contains(&"TARGETARCH=amd64".to_owned()));
    }
}
