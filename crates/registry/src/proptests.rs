//! Property tests of what berth parses from a registry (issue 14): a hostile or broken
//! registry controls `WWW-Authenticate` challenges and manifest bodies, and the user controls
//! `--platform`. Each parses or is an error; none panics.
//!
//! Failures proptest finds are kept in `proptest-regressions/` and replayed first.

use proptest::prelude::*;

use crate::manifest::{Manifest, Platform};

fn shaped(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    proptest::collection::vec(proptest::sample::select(chars), 0..max)
        .prop_map(|v| v.into_iter().collect())
}

/// Manifests and indexes with the keys the parser reads, holding values of any type.
fn manifest_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just("application/vnd.oci.image.manifest.v1+json".to_owned()),
            Just("application/vnd.docker.distribution.manifest.list.v2+json".to_owned()),
            Just("application/vnd.oci.image.index.v1+json".to_owned()),
            Just(
                "sha256:0000000000000000000000000000000000000000000000000000000000000000"
                    .to_owned()
            ),
            Just("linux".to_owned()),
            Just("amd64".to_owned()),
            any::<String>(),
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        let key = prop_oneof![
            Just("schemaVersion".to_owned()),
            Just("mediaType".to_owned()),
            Just("config".to_owned()),
            Just("layers".to_owned()),
            Just("manifests".to_owned()),
            Just("digest".to_owned()),
            Just("size".to_owned()),
            Just("platform".to_owned()),
            Just("architecture".to_owned()),
            Just("os".to_owned()),
            Just("variant".to_owned()),
            Just("urls".to_owned()),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
            proptest::collection::hash_map(key, inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn challenges_never_panic(h in prop_oneof![
        any::<String>(),
        shaped("Bearer Basic realm=service=scope=\",: ", 60),
    ]) {
        let _ = crate::auth::parse_challenge(&h);
    }

    #[test]
    fn manifests_never_panic(
        v in manifest_json(),
        raw in proptest::collection::vec(any::<u8>(), 0..128),
        ct in prop_oneof![
            Just(String::new()),
            Just("application/vnd.docker.distribution.manifest.v2+json".to_owned()),
            Just("application/vnd.docker.distribution.manifest.v1+prettyjws".to_owned()),
            any::<String>(),
        ],
    ) {
        let _ = Manifest::parse(v.to_string().as_bytes(), &ct, "fuzz");
        let _ = Manifest::parse(&raw, &ct, "fuzz");
    }

    #[test]
    fn platforms_never_panic(s in prop_oneof![any::<String>(), shaped("linux/amd64v8arm", 24)]) {
        let _ = Platform::parse(&s);
    }
}
