//! Image references (`busybox`, `localhost:5000/app:1.0`, `repo@sha256:...`): parsing,
//! Docker's normalisation (`busybox` → `docker.io/library/busybox:latest`) and its familiar
//! display form.

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// A parsed, normalised reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub domain: String,
    /// Repository path without the domain (`library/busybox`).
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

const DEFAULT_DOMAIN: &str = "docker.io";

fn bad(reference: &str, why: &'static str) -> ImageError {
    ImageError::InvalidReference {
        reference: reference.to_owned(),
        why,
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ joined by separators: ".", "_", "__", or dashes.
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut prev_sep = false;
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            prev_sep = false;
        } else if ch == b'-' {
            prev_sep = false; // any run of dashes is fine
        } else if ch == b'.' || ch == b'_' {
            if prev_sep && !(ch == b'_' && b[i - 1] == b'_' && i >= 2 && b[i - 2] != b'_') {
                return false;
            }
            prev_sep = true;
        } else {
            return false;
        }
        i += 1;
    }
    true
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl Reference {
    /// Parses and normalises `s`; a reference without tag or digest gets `latest`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut r = Self::parse_name_only(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".into());
        }
        Ok(r)
    }

    /// Parses without adding the `latest` default (for repository filters and pulls of a
    /// whole repository).
    pub fn parse_name_only(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > 255 + 128 + 72 {
            return Err(bad(s, "empty or too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(Digest::parse(d).map_err(|_| bad(s, "invalid digest"))?),
            ),
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_owned()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(bad(s, "invalid tag"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad(s, "repository name must be lowercase"));
        }
        if !path.split('/').all(valid_component) {
            return Err(bad(s, "invalid repository name"));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Self {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as Docker shows it (`busybox`, `localhost:5000/app`).
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .unwrap_or(&self.path)
                .to_owned()
        } else {
            self.repository()
        }
    }

    /// The fully qualified string (`docker.io/library/busybox:latest`).
    pub fn full(&self) -> String {
        let mut s = self.repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }

    /// As Docker shows it (`busybox:latest`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.full(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("localhost:5000/team/app:1.0").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("localhost:5000", "team/app", Some("1.0"))
        );
        assert_eq!(r.familiar(), "localhost:5000/team/app:1.0");
        let r = Reference::parse("user/app").unwrap();
        assert_eq!(r.full(), "docker.io/user/app:latest");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.familiar(), format!("busybox@{d}"));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Busybox",
            "a//b",
            "a:",
            "-a",
            "a@sha256:xyz",
            "a:tag with space",
            "a/",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
        let e = Reference::parse("UPPER").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: \"UPPER\": repository name must be lowercase"
        );
    }
}
