//! Image commands: images/ls, rmi, tag, save, load, import, history, inspect, prune.

use anyhow::{Result, bail};
use clap::Args;
use futures_util::StreamExt;
use http::Method;
use serde_json::{Value, json};

use crate::client::{Client, body_stream, empty, encode, query};
use crate::format::{Format, default_header};
use crate::table::{ago, created_at, ellipsis, human_size, human_size4, short_id};
use crate::util::{for_each, out};

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per docker flag
pub(crate) struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    no_prune: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    source: String,
    target: String,
}

#[derive(Debug, Args)]
pub(crate) struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<String>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// file|URL|-
    file: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    image: String,
}

#[derive(Debug, Args)]
pub(crate) struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
}

/// `repo[:tag]` → (repo, tag); a `:` before the last `/` is a registry port.
pub(crate) fn split_ref(r: &str) -> (String, Option<String>) {
    let r = r.split('@').next().unwrap_or(r);
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
        _ => (r.to_string(), None),
    }
}

/// docker's column names for image fields.
pub(crate) fn header(f: &str) -> String {
    match f {
        "ID" => "IMAGE ID".into(),
        "CreatedSince" => "CREATED".into(),
        other => default_header(other),
    }
}

fn num(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

#[allow(clippy::cast_precision_loss)] // sizes for display
pub(crate) fn image_rows(list: &Value, trunc: bool) -> Vec<Value> {
    let mut rows = Vec::new();
    for img in list.as_array().into_iter().flatten() {
        let id = img["Id"].as_str().unwrap_or("");
        let id = if trunc { short_id(id) } else { id.to_string() };
        let tags: Vec<String> = img["RepoTags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "<none>:<none>")
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let digests: Vec<String> = img["RepoDigests"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let created = num(img, "Created");
        let base = |repo: &str, tag: &str, digest: &str| {
            json!({
                "Repository": repo, "Tag": tag, "ID": id, "Digest": digest,
                "CreatedSince": ago(created), "CreatedAt": created_at(created),
                "Size": human_size(num(img, "Size") as f64),
                "VirtualSize": human_size(num(img, "Size") as f64),
                // docker: Size to 3 digits, SharedSize and UniqueSize to 4 (units.HumanSize).
                "SharedSize": if num(img, "SharedSize") < 0 { "N/A".to_string() } else { human_size4(num(img, "SharedSize") as f64) },
                "UniqueSize": if num(img, "SharedSize") < 0 { "N/A".to_string() } else { human_size4((num(img, "Size") - num(img, "SharedSize")) as f64) },
                "Containers": if num(img, "Containers") < 0 { "N/A".to_string() } else { num(img, "Containers").to_string() },
            })
        };
        let digest_for = |repo: &str| {
            digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo))
                .and_then(|d| d.split('@').nth(1))
                .unwrap_or("<none>")
                .to_string()
        };
        if tags.is_empty() {
            let (repo, digest) = match digests.first().and_then(|d| d.split_once('@')) {
                Some((r, d)) => (r.to_string(), d.to_string()),
                None => ("<none>".to_string(), "<none>".to_string()),
            };
            rows.push(base(&repo, "<none>", &digest));
        }
        for t in &tags {
            let (repo, tag) = split_ref(t);
            rows.push(base(
                &repo,
                tag.as_deref().unwrap_or("<none>"),
                &digest_for(&repo),
            ));
        }
    }
    rows
}

pub(crate) async fn images(cl: &Client, a: ImagesArgs) -> Result<()> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let mut params = vec![("all", a.all.to_string())];
    if !filters.is_empty() {
        params.push(("filters", crate::opts::filters_json(&filters)?));
    }
    if a.digests {
        params.push(("digests", "1".into()));
    }
    let list = cl.get_json(&query("/images/json", &params)).await?;
    let rows = image_rows(&list, !a.no_trunc);
    let user = a.format.clone().filter(|f| !f.is_empty());
    if a.quiet && user.is_none() {
        let mut seen = Vec::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or("").to_string();
            if !seen.contains(&id) {
                out(&format!("{id}\n"));
                seen.push(id);
            }
        }
        return Ok(());
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let f = Format::new(user.as_deref(), default, "formatter.imageContext")?;
    out(&f.render(&rows, &header)?);
    Ok(())
}

pub(crate) async fn rmi(cl: &Client, a: RmiArgs) -> Result<()> {
    let params = [
        ("force", a.force.to_string()),
        ("noprune", a.no_prune.to_string()),
    ];
    for_each(&a.images, |i| {
        let p = query(&format!("/images/{}", encode(&i)), &params);
        async move {
            let v = cl.delete(&p).await?;
            for item in v.as_array().into_iter().flatten() {
                if let Some(u) = item["Untagged"].as_str() {
                    out(&format!("Untagged: {u}\n"));
                }
                if let Some(d) = item["Deleted"].as_str() {
                    out(&format!("Deleted: {d}\n"));
                }
            }
            Ok(())
        }
    })
    .await
}

pub(crate) async fn tag(cl: &Client, a: TagArgs) -> Result<()> {
    let (repo, tag) = split_ref(&a.target);
    let p = query(
        &format!("/images/{}/tag", encode(&a.source)),
        &[
            ("repo", repo),
            ("tag", tag.unwrap_or_else(|| "latest".into())),
        ],
    );
    cl.post_json(&p, None).await?;
    Ok(())
}

pub(crate) async fn save(cl: &Client, a: SaveArgs) -> Result<()> {
    let params: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    let resp = cl
        .send(Method::GET, &query("/images/get", &params), empty(), None)
        .await?;
    // A bar only when the archive goes to a file: stdout is the archive otherwise.
    let bar = crate::progress::transfer_bar("Saving", None, a.output.is_none());
    crate::util::write_stream(Box::pin(body_stream(resp)), a.output.as_deref(), &bar).await
}

/// Prints a JSON-message stream (load, import) the way docker's jsonmessage does for
/// non-terminal output: `stream` text as is, `status` lines, errors as failures.
async fn print_messages(resp: http::Response<hyper::body::Incoming>) -> Result<()> {
    let mut body = Box::pin(body_stream(resp));
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(msg)) = de.next() {
            consumed = de.byte_offset();
            if let Some(e) = msg
                .get("errorDetail")
                .and_then(|d| d["message"].as_str())
                .or_else(|| msg["error"].as_str())
            {
                bail!("{e}");
            }
            if let Some(s) = msg["stream"].as_str() {
                out(s);
            } else if let Some(s) = msg["status"].as_str() {
                let id = msg["id"]
                    .as_str()
                    .map(|i| format!("{i}: "))
                    .unwrap_or_default();
                out(&format!("{id}{s}\n"));
            }
        }
        buf.drain(..consumed);
    }
    Ok(())
}

pub(crate) async fn load(cl: &Client, a: LoadArgs) -> Result<()> {
    if a.input.is_none() && crate::tty::stdin_is_tty() {
        bail!("requested load from stdin, but stdin is empty");
    }
    let label = (!a.quiet).then_some("Loading");
    let body = crate::util::file_body(a.input.as_deref(), label).await?;
    let p = query("/images/load", &[("quiet", a.quiet.to_string())]);
    let resp = cl
        .send(Method::POST, &p, body, Some("application/x-tar"))
        .await?;
    print_messages(resp).await
}

pub(crate) async fn import(cl: &Client, a: ImportArgs) -> Result<()> {
    let mut params = vec![];
    let is_url = a.file.starts_with("http://") || a.file.starts_with("https://");
    params.push((
        "fromSrc",
        if is_url {
            a.file.clone()
        } else {
            "-".to_string()
        },
    ));
    if let Some(r) = &a.reference {
        let (repo, tag) = split_ref(r);
        params.push(("repo", repo));
        if let Some(t) = tag {
            params.push(("tag", t));
        }
    }
    if let Some(m) = &a.message {
        params.push(("message", m.clone()));
    }
    if let Some(p) = &a.platform {
        params.push(("platform", p.clone()));
    }
    for c in &a.change {
        params.push(("changes", c.clone()));
    }
    let body = if is_url {
        empty()
    } else {
        crate::util::file_body(Some(&a.file), Some("Importing")).await?
    };
    let resp = cl
        .send(
            Method::POST,
            &query("/images/create", &params),
            body,
            Some("application/x-tar"),
        )
        .await?;
    print_messages(resp).await
}

pub(crate) async fn history(cl: &Client, a: HistoryArgs) -> Result<()> {
    let v = cl
        .get_json(&format!("/images/{}/history", encode(&a.image)))
        .await?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = match h["Id"].as_str().unwrap_or("") {
                "" | "<missing>" => "<missing>".to_string(),
                i if trunc => short_id(i),
                i => i.to_string(),
            };
            let created = num(h, "Created");
            let by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let by = if trunc { ellipsis(&by, 45) } else { by };
            #[allow(clippy::cast_precision_loss)] // display only
            let size = if a.human {
                human_size(num(h, "Size") as f64)
            } else {
                num(h, "Size").to_string()
            };
            json!({
                "ID": id,
                "CreatedSince": if a.human { ago(created) } else { created_at(created) },
                "CreatedAt": created_at(created),
                "CreatedBy": by,
                "Size": size,
                "Comment": h["Comment"].as_str().unwrap_or(""),
            })
        })
        .collect();
    let user = a.format.clone().filter(|f| !f.is_empty());
    let src = if a.quiet && user.is_none() {
        "{{.ID}}".to_string()
    } else {
        user.unwrap_or_default()
    };
    let f = Format::new(
        Some(&src).filter(|s| !s.is_empty()).map(String::as_str),
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        "image.historyContext",
    )?;
    out(&f.render(&rows, &|h| match h {
        "ID" => "IMAGE".into(),
        "CreatedSince" => "CREATED".into(),
        other => default_header(other),
    })?);
    Ok(())
}

pub(crate) async fn inspect(cl: &Client, a: ImageInspectArgs) -> Result<()> {
    let mut items = Vec::new();
    let mut failed = false;
    for i in &a.images {
        match cl.get_raw(&format!("/images/{}/json", encode(i))).await {
            Ok(v) => items.push(v),
            Err(e) => {
                failed = true;
                eprintln!("{}", crate::describe(&e));
            }
        }
    }
    crate::util::print_inspect(&items, a.format.as_deref())?;
    if failed {
        return Err(crate::StatusError::code(1).into());
    }
    Ok(())
}

pub(crate) async fn prune(cl: &Client, a: ImagePruneArgs) -> Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !crate::util::confirm(warning) {
        return Ok(());
    }
    let (text, space) = prune_images(cl, a.all, &a.filter).await?;
    out(&text);
    out(&format!("Total reclaimed space: {}\n", human_size4(space)));
    Ok(())
}

/// `POST /images/prune`: the "Deleted Images:" text and reclaimed bytes.
pub(crate) async fn prune_images(
    cl: &Client,
    all: bool,
    filter: &[String],
) -> Result<(String, f64)> {
    let mut filters = filter.to_vec();
    filters.push(format!("dangling={}", !all));
    let p = query(
        "/images/prune",
        &[("filters", crate::opts::filters_json(&filters)?)],
    );
    let v = cl.post_json(&p, None).await?;
    let mut text = String::new();
    let deleted = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for d in &deleted {
            if let Some(u) = d["Untagged"].as_str() {
                text.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(x) = d["Deleted"].as_str() {
                text.push_str(&format!("deleted: {x}\n"));
            }
        }
        text.push('\n');
    }
    Ok((text, v["SpaceReclaimed"].as_f64().unwrap_or(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(split_ref("busybox"), ("busybox".into(), None));
        assert_eq!(
            split_ref("busybox:1.36"),
            ("busybox".into(), Some("1.36".into()))
        );
        assert_eq!(
            split_ref("localhost:5000/x"),
            ("localhost:5000/x".into(), None)
        );
        assert_eq!(
            split_ref("localhost:5000/x:y"),
            ("localhost:5000/x".into(), Some("y".into()))
        );
    }

    #[test]
    fn rows_per_tag() {
        let list = json!([{"Id": "sha256:97550cb492d7e90f", "RepoTags": ["busybox:latest", "bb:1"],
            "Created": 0, "Size": 1_980_000, "SharedSize": -1, "Containers": -1}]);
        let rows = image_rows(&list, true);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["ID"], "97550cb492d7");
        assert_eq!(rows[0]["Size"], "1.98MB");
        assert_eq!(rows[1]["Repository"], "bb");
    }
}
