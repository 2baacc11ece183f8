//! One repository on a registry: manifests and blobs, read and written.

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::client::{Req, Session, read_small};
use crate::error::{RegistryError, Result};
use crate::manifest::ACCEPT;

/// A manifest as served: its bytes, media type and digest (verified).
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}

pub(crate) fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn check_digest(name: &str) -> Result<&str> {
    let hex = name.strip_prefix("sha256:").ok_or_else(|| {
        RegistryError::Unsupported(format!("digest {name}: only sha256 is supported"))
    })?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RegistryError::invalid(
            format!("digest {name:?}"),
            "not 64 hex digits",
        ));
    }
    Ok(hex)
}

/// A repository (`library/busybox`) on a session.
#[derive(Debug, Clone)]
pub struct Repo {
    pub session: Session,
    pub name: String,
}

impl Session {
    pub fn repo(&self, name: &str) -> Repo {
        Repo {
            session: self.clone(),
            name: name.to_owned(),
        }
    }
}

impl Repo {
    /// `host/name` for messages.
    pub fn display(&self) -> String {
        format!("{}/{}", self.session.host, self.name)
    }

    /// GET a manifest by tag or digest; its digest is checked against the reference (by
    /// digest) or against `Docker-Content-Digest` (by tag).
    pub async fn manifest(&self, reference: &str) -> Result<FetchedManifest> {
        let what = if reference.contains(':') {
            format!("{}@{reference}", self.display())
        } else {
            format!("manifest for {}:{reference}", self.display())
        };
        let req = Req::new(
            Method::GET,
            format!("/v2/{}/manifests/{reference}", self.name),
        )
        .header(header::ACCEPT, ACCEPT);
        let (resp, url) = self.session.send(&req).await?;
        let resp = self
            .session
            .expect(resp, &url, &Method::GET, &what, &[StatusCode::OK])
            .await?;
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let announced = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = read_small(resp, &url).await?;
        let digest = sha256(&bytes);
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_owned())
        } else {
            announced.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(e) = expected
            && e != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {}", self.display()),
                expected: e,
                actual: digest,
            });
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// A small blob (an image config) in memory, verified.
    pub async fn blob_bytes(&self, digest: &str, max: usize) -> Result<Bytes> {
        check_digest(digest)?;
        let what = format!("blob {digest} in {}", self.display());
        let req = Req::new(Method::GET, format!("/v2/{}/blobs/{digest}", self.name));
        let (resp, url) = self.session.send(&req).await?;
        let resp = self
            .session
            .expect(resp, &url, &Method::GET, &what, &[StatusCode::OK])
            .await?;
        let limited = http_body_util::Limited::new(resp.into_body(), max);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| RegistryError::Body {
                url: url.clone(),
                why: e.to_string(),
            })?
            .to_bytes();
        let got = sha256(&bytes);
        if got != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest.to_owned(),
                actual: got,
            });
        }
        Ok(bytes)
    }

    /// Streams blob `digest` of `size` bytes into `tx`. A connection that breaks mid-way is
    /// resumed with `Range` (or, if the registry ignores ranges, restarted with the bytes
    /// already sent skipped), up to the configured attempts. More bytes than `size` is an
    /// error. The digest is checked by the consumer, which hashes as it unpacks.
    pub async fn stream_blob(
        &self,
        digest: &str,
        size: u64,
        tx: mpsc::Sender<std::io::Result<Bytes>>,
    ) -> Result<()> {
        check_digest(digest)?;
        let what = format!("blob {digest} in {}", self.display());
        let mut sent: u64 = 0;
        let mut failures = 0;
        loop {
            match self.stream_from(digest, &what, size, &mut sent, &tx).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && failures + 1 < self.session.reg.cfg.attempts => {
                    failures += 1;
                    tracing::info!(%digest, sent, error = %e, "blob download broke off; resuming");
                    tokio::time::sleep(std::time::Duration::from_millis(200 << failures)).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return Err(e);
                }
            }
        }
    }

    async fn stream_from(
        &self,
        digest: &str,
        what: &str,
        size: u64,
        sent: &mut u64,
        tx: &mpsc::Sender<std::io::Result<Bytes>>,
    ) -> Result<()> {
        let mut req = Req::new(Method::GET, format!("/v2/{}/blobs/{digest}", self.name));
        if *sent > 0 {
            req = req.header(header::RANGE, format!("bytes={}-", *sent));
        }
        let (resp, url) = self.session.send(&req).await?;
        let resp = self
            .session
            .expect(
                resp,
                &url,
                &Method::GET,
                what,
                &[StatusCode::OK, StatusCode::PARTIAL_CONTENT],
            )
            .await?;
        // A 200 to a ranged request is the whole blob again: skip what was sent.
        let mut skip = if resp.status() == StatusCode::OK {
            *sent
        } else {
            0
        };
        let mut body = resp.into_body();
        loop {
            let next = tokio::time::timeout(crate::client::RESPONSE_TIMEOUT, body.frame())
                .await
                .map_err(|_| RegistryError::Body {
                    url: url.clone(),
                    why: format!(
                        "no data for {} s",
                        crate::client::RESPONSE_TIMEOUT.as_secs()
                    ),
                })?;
            let Some(frame) = next else { break };
            let frame = frame.map_err(|e| RegistryError::Body {
                url: url.clone(),
                why: e.to_string(),
            })?;
            let Ok(mut data) = frame.into_data() else {
                continue;
            };
            if skip > 0 {
                let n = usize::try_from(skip.min(data.len() as u64)).unwrap_or(data.len());
                let _ = data.split_to(n);
                skip -= n as u64;
            }
            if data.is_empty() {
                continue;
            }
            *sent += data.len() as u64;
            if *sent > size {
                return Err(RegistryError::invalid(
                    what.to_owned(),
                    format!("the registry sent more than the {size} bytes the manifest lists"),
                ));
            }
            if tx.send(Ok(data)).await.is_err() {
                return Ok(()); // the consumer gave up; its error is the one to report
            }
        }
        if *sent < size {
            return Err(RegistryError::Body {
                url,
                why: format!("connection closed after {} of {size} bytes", *sent),
            });
        }
        Ok(())
    }

    /// HEAD a blob: its size if the registry has it.
    pub async fn has_blob(&self, digest: &str) -> Result<Option<u64>> {
        check_digest(digest)?;
        let req = Req::new(Method::HEAD, format!("/v2/{}/blobs/{digest}", self.name));
        let (resp, url) = self.session.send(&req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = self
            .session
            .expect(
                resp,
                &url,
                &Method::HEAD,
                &format!("blob {digest}"),
                &[StatusCode::OK],
            )
            .await?;
        Ok(Some(
            resp.headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ))
    }

    /// The repository's tags (`GET /v2/<name>/tags/list`), following `Link` pages.
    pub async fn tags(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut target = format!("/v2/{}/tags/list", self.name);
        for _ in 0..100 {
            let (resp, url) = self
                .session
                .send(&Req::new(Method::GET, target.clone()))
                .await?;
            let what = format!("repository {}", self.display());
            let resp = self
                .session
                .expect(resp, &url, &Method::GET, &what, &[StatusCode::OK])
                .await?;
            let next = resp
                .headers()
                .get(header::LINK)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned()
                });
            let bytes = read_small(resp, &url).await?;
            let t: Tags = serde_json::from_slice(&bytes).map_err(|e| {
                RegistryError::invalid(format!("tags of {}", self.display()), e.to_string())
            })?;
            out.extend(t.tags.unwrap_or_default());
            match next {
                Some(n) if !n.is_empty() => target = n,
                _ => break,
            }
        }
        Ok(out)
    }
}
