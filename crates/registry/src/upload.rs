//! Writing to a repository: blob uploads (cross-repository mount, monolithic PUT, chunked
//! PATCH with the digest computed as the bytes pass) and manifest PUT.

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode, header};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::auth::query_escape;
use crate::client::{Req, read_small, resolve};
use crate::error::{RegistryError, Result};
use crate::repo::{Repo, sha256};

/// Size of each PATCH of a chunked upload.
pub const CHUNK: usize = 8 << 20;

/// How an upload began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// The registry mounted the blob from the other repository: nothing to send.
    Mounted,
    /// Send the bytes to this URL.
    Upload(String),
}

fn location(resp: &http::Response<hyper::body::Incoming>, url: &str) -> Result<String> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(|l| resolve(url, l))
        .ok_or_else(|| {
            RegistryError::invalid(format!("upload at {url}"), "no Location in the answer")
        })
}

fn with_digest(loc: &str, digest: &str) -> String {
    let sep = if loc.contains('?') { '&' } else { '?' };
    format!("{loc}{sep}digest={}", query_escape(digest))
}

impl Repo {
    /// `POST /v2/<name>/blobs/uploads/`, with `?mount=<digest>&from=<repo>` to ask for a
    /// cross-repository mount (the session needs pull scope on `from`).
    pub async fn start_upload(&self, mount: Option<(&str, &str)>) -> Result<Started> {
        let mut target = format!("/v2/{}/blobs/uploads/", self.name);
        if let Some((digest, from)) = mount {
            target.push_str(&format!(
                "?mount={}&from={}",
                query_escape(digest),
                query_escape(from)
            ));
        }
        let req = Req::new(Method::POST, target).header(header::CONTENT_LENGTH, "0");
        let (resp, url) = self.session.send(&req).await?;
        let what = format!("upload to {}", self.display());
        let resp = self
            .session
            .expect(
                resp,
                &url,
                &Method::POST,
                &what,
                &[StatusCode::CREATED, StatusCode::ACCEPTED],
            )
            .await?;
        if resp.status() == StatusCode::CREATED && mount.is_some() {
            return Ok(Started::Mounted);
        }
        Ok(Started::Upload(location(&resp, &url)?))
    }

    /// Finishes an upload with the whole blob in one `PUT ?digest=` (small blobs: configs).
    pub async fn put_blob(&self, location: &str, digest: &str, data: Bytes) -> Result<()> {
        let req = Req::new(Method::PUT, with_digest(location, digest))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, data.len().to_string())
            .body(data);
        let (resp, url) = self.session.send(&req).await?;
        let what = format!("blob {digest} upload to {}", self.display());
        self.session
            .expect(resp, &url, &Method::PUT, &what, &[StatusCode::CREATED])
            .await?;
        Ok(())
    }

    /// Uploads what arrives on `rx` in PATCH chunks of [`CHUNK`] bytes, hashing as it goes,
    /// then closes the upload with `PUT ?digest=`. Returns the digest and size; with
    /// `expect`, a different digest aborts before the PUT (the registry discards the upload).
    pub async fn upload_chunked(
        &self,
        mut location: String,
        mut rx: mpsc::Receiver<std::io::Result<Bytes>>,
        expect: Option<&str>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(String, u64)> {
        let mut hasher = Sha256::new();
        let mut offset: u64 = 0;
        let mut buf = BytesMut::with_capacity(CHUNK);
        let what = format!("upload to {}", self.display());
        loop {
            let next = rx.recv().await;
            let done = next.is_none();
            if let Some(r) = next {
                let data = r.map_err(|e| RegistryError::invalid(what.clone(), e.to_string()))?;
                hasher.update(&data);
                buf.extend_from_slice(&data);
            }
            if buf.len() >= CHUNK || (done && !buf.is_empty()) {
                let chunk = buf.split().freeze();
                let end = offset + chunk.len() as u64 - 1;
                let req = Req::new(Method::PATCH, location.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_RANGE, format!("{offset}-{end}"))
                    .header(header::CONTENT_LENGTH, chunk.len().to_string())
                    .body(chunk);
                let (resp, url) = self.session.send(&req).await?;
                let resp = self
                    .session
                    .expect(
                        resp,
                        &url,
                        &Method::PATCH,
                        &what,
                        &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT],
                    )
                    .await?;
                location = location_or(&resp, &url, location);
                offset = end + 1;
                progress(offset);
            }
            if done {
                break;
            }
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if let Some(e) = expect
            && e != digest
        {
            let _ = self.session.send(&Req::new(Method::DELETE, location)).await;
            return Err(RegistryError::DigestMismatch {
                what: format!("layer for {}", self.display()),
                expected: e.to_owned(),
                actual: digest,
            });
        }
        let req = Req::new(Method::PUT, with_digest(&location, &digest))
            .header(header::CONTENT_LENGTH, "0");
        let (resp, url) = self.session.send(&req).await?;
        self.session
            .expect(resp, &url, &Method::PUT, &what, &[StatusCode::CREATED])
            .await?;
        Ok((digest, offset))
    }

    /// `PUT /v2/<name>/manifests/<reference>`; returns the digest the registry computed
    /// (checked against the bytes'), as `docker push` prints it.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<String> {
        let digest = sha256(&bytes);
        let req = Req::new(
            Method::PUT,
            format!("/v2/{}/manifests/{reference}", self.name),
        )
        .header(header::CONTENT_TYPE, media_type)
        .header(header::CONTENT_LENGTH, bytes.len().to_string())
        .body(bytes);
        let (resp, url) = self.session.send(&req).await?;
        let what = format!("manifest {}:{reference}", self.display());
        let resp = self
            .session
            .expect(
                resp,
                &url,
                &Method::PUT,
                &what,
                &[StatusCode::CREATED, StatusCode::OK],
            )
            .await?;
        let announced = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let _ = read_small(resp, &url).await;
        if let Some(a) = announced
            && a != digest
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest,
                actual: a,
            });
        }
        Ok(digest)
    }
}

fn location_or(resp: &http::Response<hyper::body::Incoming>, url: &str, old: String) -> String {
    location(resp, url).unwrap_or(old)
}
