//! Small helpers shared by the commands: output, per-object loops, prompts.

use std::future::Future;
use std::io::Write;

use anyhow::Result;

use crate::StatusError;

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
pub(crate) fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Runs `f` for each name, printing each failure as docker does, and fails (exit 1) at the
/// end if any did.
pub(crate) async fn for_each<F, Fut>(names: &[String], f: F) -> Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    if failures(names, f).await.is_empty() {
        Ok(())
    } else {
        Err(StatusError::code(1).into())
    }
}

/// Runs `f` for each name, printing each failure as docker does; returns the names that
/// failed.
pub(crate) async fn failures<F, Fut>(names: &[String], mut f: F) -> Vec<&str>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut failed = Vec::new();
    for n in names {
        if let Err(e) = f(n.clone()).await {
            eprintln!("{}", crate::describe(&e));
            failed.push(n.as_str());
        }
    }
    failed
}

/// docker's `[y/N]` prompt; anything but y/yes is no.
pub(crate) fn confirm(warning: &str) -> bool {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints raw JSON objects as docker's `inspect` does (an array, indented by 4, keys in the
/// daemon's order), or each item through a template.
pub(crate) fn print_inspect(items: &[bytes::Bytes], format: Option<&str>) -> Result<()> {
    match format {
        Some(f) if !f.is_empty() => {
            let t = crate::format::Template::parse(f)?;
            for item in items {
                let v: serde_json::Value = serde_json::from_slice(item)?;
                // docker drops the partial output of a failed template but still ends
                // the line it was on.
                let text = t.render(&v).map_err(|e| {
                    out("\n");
                    anyhow::anyhow!("template parsing error: {e}")
                })?;
                out(&format!("{text}\n"));
            }
        }
        _ => {
            let mut all = b"[".to_vec();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    all.push(b',');
                }
                all.extend_from_slice(item);
            }
            all.push(b']');
            out(&format!("{}\n", indent_json(&all)));
        }
    }
    Ok(())
}

/// Go's `json.Indent(buf, raw, "", "    ")`: re-indents without reordering anything.
pub(crate) fn indent_json(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("    ", depth));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                out.push(c);
                if chars.get(j) == Some(&close) {
                    // Empty containers stay on one line: `{}`, `[]`.
                    out.push(close);
                    i = j + 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes a byte stream to `-o FILE`, or to stdout unless that is a terminal (as docker),
/// counting the bytes on `bar` (finished and cleared at the end).
pub(crate) async fn write_stream<S, E>(
    mut body: S,
    output: Option<&str>,
    bar: &indicatif::ProgressBar,
) -> Result<()>
where
    S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    use futures_util::StreamExt;
    use std::io::IsTerminal;
    use tokio::io::AsyncWriteExt;
    let mut w: Box<dyn tokio::io::AsyncWrite + Unpin> = match output {
        Some(p) if p != "-" => Box::new(tokio::fs::File::create(p).await?),
        _ => {
            if std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            Box::new(tokio::io::stdout())
        }
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        w.write_all(&chunk).await?;
        bar.inc(chunk.len() as u64);
    }
    w.flush().await?;
    bar.finish_and_clear();
    Ok(())
}

/// A file (or stdin for `-`/none) as a streamed request body, with an upload bar labelled
/// `progress` (a file's size is its total; stdin's is unknown). The bar is cleared once the
/// whole body has been sent.
pub(crate) async fn file_body(
    path: Option<&str>,
    progress: Option<&str>,
) -> Result<crate::client::Body> {
    use http_body_util::BodyExt;
    let (reader, total): (
        Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>,
        Option<u64>,
    ) = match path {
        Some(p) if p != "-" => {
            let f = tokio::fs::File::open(p)
                .await
                .map_err(|e| anyhow::anyhow!("open {p}: {}", go_os_error(&e)))?;
            let len = f.metadata().await.ok().map(|m| m.len());
            (Box::new(f), len)
        }
        _ => (Box::new(tokio::io::stdin()), None),
    };
    let bar = match progress {
        Some(label) => crate::progress::transfer_bar(label, total, false),
        None => indicatif::ProgressBar::hidden(),
    };
    // 256 KiB frames: the default 4 KiB makes a 200 MB load fifty thousand of them.
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024);
    let body = http_body_util::StreamBody::new(futures_util::StreamExt::map(stream, move |r| {
        match &r {
            Ok(chunk) => {
                bar.inc(chunk.len() as u64);
                if bar.length().is_some_and(|n| bar.position() >= n) {
                    bar.finish_and_clear();
                }
            }
            Err(_) => bar.abandon(),
        }
        r.map(hyper::body::Frame::data)
    }));
    Ok(body.boxed())
}

/// An OS error as Go words it ("no such file or directory"), for messages docker's match.
pub(crate) fn go_os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => text[..i].to_owned(),
        _ => text,
    };
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// Raw bytes to stdout.
pub(crate) fn out_bytes(b: &[u8]) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(b);
    let _ = o.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_as_go_prints_them() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(go_os_error(&e), "no such file or directory");
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(go_os_error(&e), "permission denied");
    }

    #[test]
    fn indents_like_go() {
        let raw = br#"[{"b":1,"a":{"x":[1,2],"e":{},"l":[]},"s":"q\"{,"}]"#;
        let want = "[\n    {\n        \"b\": 1,\n        \"a\": {\n            \"x\": [\n                1,\n                2\n            ],\n            \"e\": {},\n            \"l\": []\n        },\n        \"s\": \"q\\\"{,\"\n    }\n]";
        assert_eq!(indent_json(raw), want);
        assert_eq!(indent_json(b"[]"), "[]");
    }
}
