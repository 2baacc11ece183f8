//! Registry commands: pull, push, login, logout, search; and the pull `run`/`create` do
//! for a missing image.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};

use anyhow::{Result, bail};
use clap::Args;
use futures_util::StreamExt;
use http::Method;
use serde_json::{Value, json};

use crate::client::{Client, body_stream, empty, encode, query};
use crate::credentials::{self, Auth};
use crate::util::out;

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Skip image verification (accepted for compatibility)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    disable_content_trust: bool,
    /// NAME[:TAG|@DIGEST]
    name: String,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Skip image signing (accepted for compatibility)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    disable_content_trust: bool,
    /// NAME[:TAG]
    name: String,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    /// SERVER (default Docker Hub)
    server: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// SERVER (default Docker Hub)
    server: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    limit: u32,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// TERM
    term: String,
}

/// `busybox` → `docker.io/library/busybox:latest` shown as `docker.io/library/busybox:latest`.
fn full_name(r: &str) -> String {
    let host = credentials::host_of(r);
    let mut s = if r.starts_with(&format!("{host}/")) {
        r.to_owned()
    } else if r.contains('/') {
        format!("docker.io/{r}")
    } else {
        format!("docker.io/library/{r}")
    };
    let last = s.rsplit('/').next().unwrap_or("");
    if !last.contains([':', '@']) {
        s.push_str(":latest");
    }
    s
}

/// Splits `name[:tag|@digest]` into name and tag-or-digest.
fn split(r: &str) -> (String, Option<String>) {
    if let Some((n, d)) = r.split_once('@') {
        return (n.to_owned(), Some(d.to_owned()));
    }
    let slash = r.rfind('/').map_or(0, |i| i + 1);
    match r[slash..].rfind(':') {
        Some(i) => (
            r[..slash + i].to_owned(),
            Some(r[slash + i + 1..].to_owned()),
        ),
        None => (r.to_owned(), None),
    }
}

/// How progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Display {
    /// `indicatif` bars per layer.
    Bars,
    /// One line per state change (stdout is not a terminal).
    Lines,
    /// Lines on stderr (the pull `run` does before it runs).
    Stderr,
    Quiet,
}

impl Display {
    pub(crate) fn pick(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stdout().is_terminal() {
            Self::Bars
        } else {
            Self::Lines
        }
    }
}

/// Renders Docker's JSON message stream; returns the error message of an `errorDetail`.
async fn show_stream(
    resp: http::Response<hyper::body::Incoming>,
    display: Display,
) -> Result<Option<Value>> {
    let mut body = Box::pin(body_stream(resp));
    let mut buf: Vec<u8> = Vec::new();
    let mut view = crate::progress::View::new(display);
    let mut aux = None;
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Ok(m) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(e) = m
                .get("errorDetail")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .or_else(|| m.get("error").and_then(Value::as_str))
            {
                view.finish();
                bail!("{e}");
            }
            if let Some(a) = m.get("aux") {
                aux = Some(a.clone());
                continue;
            }
            view.message(&m);
        }
    }
    view.finish();
    Ok(aux)
}

/// Pulls `reference` through the daemon, drawing progress.
pub(crate) async fn pull_image(
    cl: &Client,
    reference: &str,
    platform: Option<&str>,
    all_tags: bool,
    display: Display,
) -> Result<()> {
    let (name, tag) = split(reference);
    let mut params = vec![("fromImage", name.clone())];
    if !all_tags {
        params.push(("tag", tag.unwrap_or_else(|| "latest".into())));
    }
    if let Some(p) = platform {
        params.push(("platform", p.to_owned()));
    }
    let auth = credentials::get(&credentials::host_of(&name))?;
    let resp = send_with_auth(cl, &query("/images/create", &params), &auth).await?;
    show_stream(resp, display).await?;
    Ok(())
}

async fn send_with_auth(
    cl: &Client,
    path: &str,
    auth: &Auth,
) -> Result<http::Response<hyper::body::Incoming>> {
    cl.send_with_headers(
        Method::POST,
        path,
        empty(),
        &[("X-Registry-Auth", auth.header())],
    )
    .await
}

pub(crate) async fn pull(cl: &Client, a: PullArgs) -> Result<()> {
    let _ = a.disable_content_trust;
    if a.all_tags && split(&a.name).1.is_some() {
        bail!("tag can't be used with --all-tags/-a");
    }
    let display = Display::pick(a.quiet);
    pull_image(cl, &a.name, a.platform.as_deref(), a.all_tags, display).await?;
    if !a.all_tags {
        out(&format!("{}\n", full_name(&a.name)));
    }
    Ok(())
}

pub(crate) async fn push(cl: &Client, a: PushArgs) -> Result<()> {
    let _ = a.disable_content_trust;
    let (name, tag) = split(&a.name);
    if a.all_tags && tag.is_some() {
        bail!("tag can't be used with --all-tags/-a");
    }
    let mut params = Vec::new();
    if let Some(t) = tag.clone() {
        params.push(("tag", t));
    } else if !a.all_tags {
        // As docker ≥ 20.10: without a tag, `latest` unless --all-tags.
        params.push(("tag", "latest".to_owned()));
    }
    let auth = credentials::get(&credentials::host_of(&name))?;
    let path = query(&format!("/images/{}/push", encode_path(&name)), &params);
    let resp = send_with_auth(cl, &path, &auth).await?;
    let display = Display::pick(a.quiet);
    let aux = show_stream(resp, display).await?;
    if display == Display::Quiet {
        out(&format!("{}\n", full_name(&a.name)));
    } else if aux.is_none() {
        tracing::debug!("push answered no digest");
    }
    Ok(())
}

fn encode_path(name: &str) -> String {
    name.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn read_password_stdin() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub(crate) async fn login(cl: &Client, a: LoginArgs) -> Result<()> {
    let host = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let server = credentials::server_key(&host);
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let password = match (a.password_stdin, a.password.clone()) {
        (true, Some(_)) => bail!("--password and --password-stdin are mutually exclusive"),
        (true, None) => {
            if a.username.is_none() {
                bail!("Must provide --username with --password-stdin");
            }
            read_password_stdin()?
        }
        (false, Some(p)) => p,
        (false, None) => String::new(),
    };
    let stored = credentials::get(&host).unwrap_or_default();
    let (username, password) = match (a.username.clone(), password.is_empty()) {
        (Some(u), false) => (u, password),
        (None, _) | (Some(_), true)
            if !stored.username.is_empty()
                && a.username.as_deref().is_none_or(|u| u == stored.username) =>
        {
            (stored.username.clone(), stored.password.clone())
        }
        _ => bail!(
            "Cannot perform an interactive login from a non TTY device: use -u and --password-stdin"
        ),
    };
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let v = cl.post_json("/auth", Some(&body)).await?;
    let token = v["IdentityToken"].as_str().unwrap_or("").to_owned();
    let auth = Auth {
        username: username.clone(),
        password: if token.is_empty() {
            password
        } else {
            String::new()
        },
        identity_token: token,
        server,
    };
    credentials::store(&auth)?;
    out(&format!(
        "{}\n",
        v["Status"].as_str().unwrap_or("Login Succeeded")
    ));
    Ok(())
}

/// `logout` needs no daemon.
pub(crate) fn logout(a: &LogoutArgs) -> Result<()> {
    let host = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let server = credentials::server_key(&host);
    if credentials::erase(&host)? {
        out(&format!("Removing login credentials for {server}\n"));
    } else {
        out(&format!("Not logged in to {server}\n"));
    }
    Ok(())
}

pub(crate) async fn search(cl: &Client, a: SearchArgs) -> Result<()> {
    let _ = (&a.filter, &a.format);
    let auth = credentials::get(&credentials::host_of(&a.term))?;
    let path = query(
        "/images/search",
        &[("term", a.term.clone()), ("limit", a.limit.to_string())],
    );
    let resp = cl
        .send_with_headers(
            Method::GET,
            &path,
            empty(),
            &[("X-Registry-Auth", auth.header())],
        )
        .await?;
    let v = crate::client::read_json(resp).await?;
    let rows: Vec<HashMap<&str, String>> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let desc = r["description"].as_str().unwrap_or("").replace('\n', " ");
                    HashMap::from([
                        ("name", r["name"].as_str().unwrap_or("").to_owned()),
                        ("desc", desc),
                        ("stars", r["star_count"].as_u64().unwrap_or(0).to_string()),
                        (
                            "official",
                            if r["is_official"].as_bool().unwrap_or(false) {
                                "[OK]".into()
                            } else {
                                String::new()
                            },
                        ),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    let mut s = format!(
        "{:<30} {:<45} {:<6} {}\n",
        "NAME", "DESCRIPTION", "STARS", "OFFICIAL"
    );
    for r in rows {
        let desc: String = if a.no_trunc || r["desc"].chars().count() <= 45 {
            r["desc"].clone()
        } else {
            r["desc"].chars().take(44).collect::<String>() + "…"
        };
        s.push_str(&format!(
            "{:<30} {desc:<45} {:<6} {}\n",
            r["name"], r["stars"], r["official"]
        ));
    }
    out(&s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_and_normalise() {
        assert_eq!(split("a/b:1"), ("a/b".into(), Some("1".into())));
        assert_eq!(split("localhost:5000/a"), ("localhost:5000/a".into(), None));
        assert_eq!(split("a@sha256:00"), ("a".into(), Some("sha256:00".into())));
        assert_eq!(full_name("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full_name("127.0.0.1:5000/x/y:v1"), "127.0.0.1:5000/x/y:v1");
        assert_eq!(full_name("u/app"), "docker.io/u/app:latest");
    }
}
