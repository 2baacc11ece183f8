//! Property tests of the docker CLI's Go templates as berth parses and runs them
//! (`--format`, issue 14): any template text parses or is an error, and one that parses
//! renders against any JSON (and as a table header) or is an error — never a panic.
//!
//! Failures proptest finds are kept in `proptest-regressions/` and replayed first.

use proptest::prelude::*;
use serde_json::Value;

use crate::format::Template;

/// Template text built from the tokens the parser branches on.
fn template() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{{.".to_owned()),
        Just(".Names".to_owned()),
        Just(".ID".to_owned()),
        Just(".Config.Env".to_owned()),
        Just(" | ".to_owned()),
        Just("json".to_owned()),
        Just("join".to_owned()),
        Just("index".to_owned()),
        Just("range".to_owned()),
        Just("if".to_owned()),
        Just("else".to_owned()),
        Just("end".to_owned()),
        Just("with".to_owned()),
        Just("printf".to_owned()),
        Just("table".to_owned()),
        Just("$x := ".to_owned()),
        Just("$".to_owned()),
        Just("\"%s\"".to_owned()),
        Just("\"".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(" ".to_owned()),
        Just("\\t".to_owned()),
        Just("-".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        "[a-zA-Z.]{0,6}",
    ];
    proptest::collection::vec(token, 0..16).prop_map(|v| v.concat())
}

fn data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let key = prop_oneof![
            Just("Names".to_owned()),
            Just("ID".to_owned()),
            Just("Config".to_owned()),
            Just("Env".to_owned()),
            "[a-zA-Z]{1,4}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::hash_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn templates_parse_and_render_or_fail(src in template(), v in data()) {
        if let Ok(t) = Template::parse(&src) {
            let _ = t.render(&v);
            let _ = t.render_header(&|f: &str| f.to_owned());
        }
    }

    #[test]
    fn any_text_parses_or_fails(src in any::<String>()) {
        if let Ok(t) = Template::parse(&src) {
            let _ = t.render(&Value::Null);
        }
    }
}
