//! API versions: what berth speaks, and the `/v1.xx` prefix clients put on paths.

use axum::body::Body;
use hyper::Request;

/// The newest API version berth implements (what `/version` and `/_ping` announce).
pub const API_VERSION: &str = "1.51";
/// The oldest API version berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// Rewrites `/v1.45/containers/json` to `/containers/json` before routing.
pub(crate) fn strip_prefix(mut req: Request<Body>) -> Request<Body> {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/v")
        && let Some(slash) = rest.find('/')
        && is_version(&rest[..slash])
    {
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
    req
}

fn is_version(s: &str) -> bool {
    let mut it = s.split('.');
    matches!((it.next(), it.next(), it.next()), (Some(a), Some(b), None)
        if !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> String {
        let req = Request::builder().uri(p).body(Body::empty()).unwrap();
        strip_prefix(req).uri().to_string()
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
}
