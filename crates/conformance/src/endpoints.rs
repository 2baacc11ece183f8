//! Every operation of the Docker Engine API at v1.41 (method and path), written from moby's
//! `api/swagger.yaml`; the harness counts each scenario step against one of them, and a test
//! checks that the corpus exercises them all.

/// `(method, path)`; `{x}` is one path segment, `{x*}` one or more (image and plugin names
/// may hold slashes).
pub const ENDPOINTS: &[(&str, &str)] = &[
    // containers
    ("GET", "/containers/json"),
    ("POST", "/containers/create"),
    ("GET", "/containers/{id}/json"),
    ("GET", "/containers/{id}/top"),
    ("GET", "/containers/{id}/logs"),
    ("GET", "/containers/{id}/changes"),
    ("GET", "/containers/{id}/export"),
    ("GET", "/containers/{id}/stats"),
    ("POST", "/containers/{id}/resize"),
    ("POST", "/containers/{id}/start"),
    ("POST", "/containers/{id}/stop"),
    ("POST", "/containers/{id}/restart"),
    ("POST", "/containers/{id}/kill"),
    ("POST", "/containers/{id}/update"),
    ("POST", "/containers/{id}/rename"),
    ("POST", "/containers/{id}/pause"),
    ("POST", "/containers/{id}/unpause"),
    ("POST", "/containers/{id}/attach"),
    ("GET", "/containers/{id}/attach/ws"),
    ("POST", "/containers/{id}/wait"),
    ("DELETE", "/containers/{id*}"),
    ("HEAD", "/containers/{id}/archive"),
    ("GET", "/containers/{id}/archive"),
    ("PUT", "/containers/{id}/archive"),
    ("POST", "/containers/prune"),
    // images
    ("GET", "/images/json"),
    ("POST", "/build"),
    ("POST", "/build/prune"),
    ("POST", "/images/create"),
    ("GET", "/images/{name*}/json"),
    ("GET", "/images/{name*}/history"),
    ("POST", "/images/{name*}/push"),
    ("POST", "/images/{name*}/tag"),
    ("DELETE", "/images/{name*}"),
    ("GET", "/images/search"),
    ("POST", "/images/prune"),
    ("POST", "/auth"),
    ("POST", "/commit"),
    ("GET", "/images/{name*}/get"),
    ("GET", "/images/get"),
    ("POST", "/images/load"),
    // system
    ("GET", "/info"),
    ("GET", "/version"),
    ("GET", "/_ping"),
    ("HEAD", "/_ping"),
    ("GET", "/events"),
    ("GET", "/system/df"),
    // exec
    ("POST", "/containers/{id}/exec"),
    ("POST", "/exec/{id}/start"),
    ("POST", "/exec/{id}/resize"),
    ("GET", "/exec/{id}/json"),
    // volumes
    ("GET", "/volumes"),
    ("POST", "/volumes/create"),
    ("GET", "/volumes/{name}"),
    ("DELETE", "/volumes/{name}"),
    ("POST", "/volumes/prune"),
    // networks
    ("GET", "/networks"),
    ("GET", "/networks/{id}"),
    ("DELETE", "/networks/{id}"),
    ("POST", "/networks/create"),
    ("POST", "/networks/{id}/connect"),
    ("POST", "/networks/{id}/disconnect"),
    ("POST", "/networks/prune"),
    // plugins
    ("GET", "/plugins"),
    ("GET", "/plugins/privileges"),
    ("POST", "/plugins/pull"),
    ("GET", "/plugins/{name*}/json"),
    ("DELETE", "/plugins/{name*}"),
    ("POST", "/plugins/{name*}/enable"),
    ("POST", "/plugins/{name*}/disable"),
    ("POST", "/plugins/{name*}/upgrade"),
    ("POST", "/plugins/create"),
    ("POST", "/plugins/{name*}/push"),
    ("POST", "/plugins/{name*}/set"),
    // swarm
    ("GET", "/nodes"),
    ("GET", "/nodes/{id}"),
    ("DELETE", "/nodes/{id}"),
    ("POST", "/nodes/{id}/update"),
    ("GET", "/swarm"),
    ("POST", "/swarm/init"),
    ("POST", "/swarm/join"),
    ("POST", "/swarm/leave"),
    ("POST", "/swarm/update"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/unlock"),
    ("GET", "/services"),
    ("POST", "/services/create"),
    ("GET", "/services/{id}"),
    ("DELETE", "/services/{id}"),
    ("POST", "/services/{id}/update"),
    ("GET", "/services/{id}/logs"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{id}"),
    ("GET", "/tasks/{id}/logs"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/{id}"),
    ("DELETE", "/secrets/{id}"),
    ("POST", "/secrets/{id}/update"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/{id}"),
    ("DELETE", "/configs/{id}"),
    ("POST", "/configs/{id}/update"),
    // distribution, session
    ("GET", "/distribution/{name*}/json"),
    ("POST", "/session"),
];

/// Steps that hit no swagger path (unknown paths, wrong methods, version prefixes out of
/// range) are counted under this name.
pub const OTHER: &str = "(no such endpoint)";

/// The endpoint `method path` exercises: `"GET /containers/{id}/json"`, or [`OTHER`]. The
/// path is the scenario's (variables unsubstituted, query and version prefix ignored).
pub fn classify(method: &str, target: &str) -> String {
    let path = target.split('?').next().unwrap_or(target);
    let path = strip_version(path);
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut best: Option<(usize, &str)> = None;
    for (m, p) in ENDPOINTS {
        if *m != method {
            continue;
        }
        if let Some(literal) = matches(p, &segs)
            && best.is_none_or(|(b, _)| literal > b)
        {
            best = Some((literal, p));
        }
    }
    best.map_or_else(|| OTHER.to_owned(), |(_, p)| format!("{method} {p}"))
}

/// `/v1.41/info` → `/info`.
fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v")
        && rest.starts_with(|c: char| c.is_ascii_digit())
        && let Some(i) = rest.find('/')
    {
        return &rest[i..];
    }
    path
}

/// The number of literal segments matched, when `pattern` matches `segs`.
fn matches(pattern: &str, segs: &[&str]) -> Option<usize> {
    let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    fn go(pat: &[&str], segs: &[&str]) -> Option<usize> {
        match (pat.first(), segs.first()) {
            (None, None) => Some(0),
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with("*}") => {
                // One or more segments; try the longest first so a trailing literal
                // (`/json`) still matches the last one.
                (1..=segs.len())
                    .rev()
                    .find_map(|n| go(&pat[1..], &segs[n..]))
                    .filter(|_| !s.is_empty())
            }
            (Some(p), Some(s)) if p.starts_with('{') => {
                (!s.is_empty()).then(|| go(&pat[1..], &segs[1..])).flatten()
            }
            (Some(p), Some(s)) if p == s => go(&pat[1..], &segs[1..]).map(|n| n + 1),
            _ => None,
        }
    }
    go(&pat, segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_endpoint() {
        assert_eq!(
            classify("GET", "/containers/json?all=1"),
            "GET /containers/json"
        );
        assert_eq!(
            classify("GET", "/containers/{c1}/json"),
            "GET /containers/{id}/json"
        );
        assert_eq!(classify("GET", "/images/json"), "GET /images/json");
        assert_eq!(
            classify("GET", "/images/127.0.0.1:1/a/b/json"),
            "GET /images/{name*}/json"
        );
        assert_eq!(classify("DELETE", "/images/a/b"), "DELETE /images/{name*}");
        assert_eq!(classify("GET", "/images/get?names=x"), "GET /images/get");
        assert_eq!(classify("GET", "/v1.41/_ping"), "GET /_ping");
        assert_eq!(classify("POST", "/containers/json"), OTHER);
        assert_eq!(classify("GET", "/nosuch"), OTHER);
        assert_eq!(
            classify("DELETE", "/containers/{c1}/{alias}?link=1"),
            "DELETE /containers/{id*}",
            "a link is removed through its parent/alias name"
        );
    }
}
