//! API versions: what berth speaks, the `/v1.xx` prefix clients put on paths, and the
//! requested version handed to handlers for the fields dockerd varies by version.

use axum::body::Body;
use hyper::Request;

use crate::error::ApiError;

/// The newest API version berth implements (what `/version` and `/_ping` announce).
pub const API_VERSION: &str = "1.51";
/// The oldest API version berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// The version a request asked for (its `/v1.xx` prefix, else [`API_VERSION`]), as an
/// extension on every routed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    major: u32,
    minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// True when the client asked for `major.minor` or newer.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Self::new(major, minor)
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        parse(API_VERSION).map_or(Self::new(1, 51), |p| Self::new(p[0], p[1]))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().copied().unwrap_or_default())
    }
}

/// Numeric parts of a dotted version (`"1.41.1"` → `[1, 41, 1]`), as dockerd compares them.
fn parse(v: &str) -> Option<Vec<u32>> {
    v.split('.').map(|p| p.parse().ok()).collect()
}

/// Compares two dotted versions part by part, missing parts counting as 0.
fn cmp(a: &[u32], b: &[u32]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Checks a requested version against berth's range, with dockerd's messages.
fn check(requested: &str) -> Result<ApiVersion, ApiError> {
    let (Some(v), Some(min), Some(max)) =
        (parse(requested), parse(MIN_API_VERSION), parse(API_VERSION))
    else {
        return Err(ApiError::bad_request(format!(
            "client version {requested} is invalid"
        )));
    };
    if cmp(&v, &min).is_lt() {
        return Err(ApiError::bad_request(format!(
            "client version {requested} is too old. Minimum supported API version is \
             {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if cmp(&v, &max).is_gt() {
        return Err(ApiError::bad_request(format!(
            "client version {requested} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(ApiVersion::new(v[0], v.get(1).copied().unwrap_or(0)))
}

/// Rewrites `/v1.45/containers/json` to `/containers/json` before routing and records the
/// version; a version outside berth's range is refused as dockerd refuses it.
pub(crate) fn route(mut req: Request<Body>) -> Result<Request<Body>, ApiError> {
    let path = req.uri().path();
    let mut version = ApiVersion::default();
    // dockerd's route is `/v{version:[0-9.]+}/...`.
    if let Some(rest) = path.strip_prefix("/v")
        && let Some(slash) = rest.find('/')
        && is_version(&rest[..slash])
    {
        version = check(&rest[..slash])?;
        let new_path = rest[slash..].to_owned();
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = hyper::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(version);
    Ok(req)
}

fn is_version(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || c == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> String {
        let req = Request::builder().uri(p).body(Body::empty()).unwrap();
        route(req).unwrap().uri().to_string()
    }

    fn refused(p: &str) -> String {
        let req = Request::builder().uri(p).body(Body::empty()).unwrap();
        route(req).unwrap_err().message
    }

    #[test]
    fn strips_version_prefix() {
        assert_eq!(
            path("/v1.47/containers/json?all=1"),
            "/containers/json?all=1"
        );
        assert_eq!(path("/v1.24/_ping"), "/_ping");
        assert_eq!(path("/containers/json"), "/containers/json");
        assert_eq!(path("/volumes/v1.2"), "/volumes/v1.2");
        assert_eq!(path("/vx.1/_ping"), "/vx.1/_ping");
    }

    #[test]
    fn versions_outside_the_range_are_refused_with_dockers_messages() {
        assert_eq!(
            refused("/v1.99/info"),
            "client version 1.99 is too new. Maximum supported API version is 1.51"
        );
        assert_eq!(
            refused("/v1.51.1/info"),
            "client version 1.51.1 is too new. Maximum supported API version is 1.51"
        );
        assert_eq!(
            refused("/v1.11/info"),
            "client version 1.11 is too old. Minimum supported API version is 1.24, please \
             upgrade your client to a newer version"
        );
        assert_eq!(
            refused("/v1/info"),
            "client version 1 is too old. Minimum supported API version is 1.24, please \
             upgrade your client to a newer version"
        );
    }

    #[test]
    fn the_requested_version_is_recorded() {
        let req = Request::builder()
            .uri("/v1.41/info")
            .body(Body::empty())
            .unwrap();
        let v = *route(req)
            .unwrap()
            .extensions()
            .get::<ApiVersion>()
            .unwrap();
        assert!(v.at_least(1, 41));
        assert!(!v.at_least(1, 42));
        let req = Request::builder().uri("/info").body(Body::empty()).unwrap();
        let v = *route(req)
            .unwrap()
            .extensions()
            .get::<ApiVersion>()
            .unwrap();
        assert_eq!(v, ApiVersion::new(1, 51));
    }
}
