//! Property tests of the engine's parsers of outside input (issue 14): API filter values,
//! signals, sizes, port keys, cpuset lists, json-file log lines, and the resource values of a
//! create or update. None may panic on any input; what they accept must be usable downstream
//! (a resource set validation lets through builds an OCI spec without overflowing).
//!
//! Failures proptest finds are kept in `proptest-regressions/` beside this file and replayed
//! first; the inputs that found real bugs are also pinned in [`regressions`].
#![allow(clippy::unwrap_used)] // tests

use bollard_stubs::models::HostConfig;
use proptest::prelude::*;

use crate::filters::{parse_duration, parse_time};
use crate::lifecycle::signal::parse_signal;
use crate::lifecycle::validate::{self, Host, Resources};
use crate::units::parse_size;

fn host() -> Host {
    Host {
        ncpu: 2,
        cpus: "0-1".into(),
        mems: "0".into(),
        blkio_weight: true,
    }
}

/// Strings made of the characters these parsers branch on, so that the interesting paths are
/// reached far more often than with uniform unicode.
fn shaped(alphabet: &'static str) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    proptest::collection::vec(proptest::sample::select(chars), 0..24)
        .prop_map(|v| v.into_iter().collect())
}

/// Values around the edges the checks compare against.
fn edgy_i64() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(-1)),
        Just(Some(i64::MAX)),
        Just(Some(i64::MIN)),
        Just(Some(i64::MAX / 2 + 1)),
        Just(Some(6 * 1024 * 1024)),
        Just(Some(1000)),
        Just(Some(1_000_000)),
        any::<i64>().prop_map(Some),
    ]
}

fn host_config() -> impl Strategy<Value = HostConfig> {
    (
        (edgy_i64(), edgy_i64(), edgy_i64(), edgy_i64()),
        (edgy_i64(), edgy_i64(), edgy_i64(), edgy_i64()),
        (any::<Option<u16>>(), edgy_i64(), edgy_i64()),
        (
            proptest::option::of(shaped("0123456789,-")),
            proptest::option::of(shaped("0123456789,-")),
        ),
    )
        .prop_map(
            |((memory, memory_swap, memory_reservation, memory_swappiness), cpu, rest, sets)| {
                let (nano_cpus, cpu_shares, cpu_period, cpu_quota) = cpu;
                let (blkio_weight, pids_limit, shm_size) = rest;
                HostConfig {
                    memory,
                    memory_swap,
                    memory_reservation,
                    memory_swappiness,
                    nano_cpus,
                    cpu_shares,
                    cpu_period,
                    cpu_quota,
                    blkio_weight,
                    pids_limit,
                    shm_size,
                    cpuset_cpus: sets.0,
                    cpuset_mems: sets.1,
                    ..HostConfig::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filter_times_and_durations_never_panic(s in shaped("0123456789.:-+TZhmsuµn ")) {
        let _ = parse_time(&s);
        let _ = parse_duration(&s);
    }

    #[test]
    fn filter_times_never_panic_on_any_text(s in any::<String>()) {
        let _ = parse_time(&s);
        let _ = parse_duration(&s);
    }

    #[test]
    fn signals_never_panic(s in any::<String>(), n in any::<i64>()) {
        let _ = parse_signal(&s);
        let _ = parse_signal(&n.to_string());
        let _ = parse_signal(&format!("SIG{s}"));
    }

    #[test]
    fn sizes_never_panic(s in shaped("0123456789.kmgtpbiKMGTPBI -e+")) {
        let _ = parse_size(&s);
    }

    #[test]
    fn port_keys_never_panic(s in shaped("0123456789/tcpudsTCP-")) {
        if let Ok((port, proto)) = crate::ports::parse_key(&s) {
            prop_assert!(port > 0);
            prop_assert!(["tcp", "udp", "sctp"].contains(&proto.as_str()));
        }
    }

    #[test]
    fn cpuset_lists_never_panic(s in shaped("0123456789,-")) {
        if let Ok(ranges) = validate::parse_uint_list(&s) {
            prop_assert!(ranges.iter().all(|(lo, hi)| lo <= hi));
        }
    }

    #[test]
    fn log_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = crate::logs::parse_line(&line, true);
    }

    #[test]
    fn log_lines_with_any_time_never_panic(
        log in any::<String>(),
        time in shaped("0123456789-:.TZ+"),
    ) {
        let line = serde_json::json!({"log": log, "stream": "stdout", "time": time});
        let _ = crate::logs::parse_line(line.to_string().as_bytes(), true);
    }

    /// What validation accepts at create must build a spec (no overflow, no panic), and the
    /// same values sent as an update are judged without panicking either.
    #[test]
    fn accepted_resources_build_a_spec(h in host_config()) {
        let at_create = validate::resources(&Resources::of_host(&h), &host(), false);
        let _ = validate::resources(&Resources::of_host(&h), &host(), true);
        if at_create.is_ok() && validate::host(&h).is_ok() {
            let r = crate::ocispec::resources::resources(&h, false, Vec::new());
            if let Ok(r) = r
                && let Some(m) = r.memory()
                && let (Some(limit), Some(swap)) = (m.limit(), m.swap())
            {
                prop_assert!(swap == -1 || swap >= limit, "swap {swap} below limit {limit}");
            }
        }
    }
}

/// Inputs that made these parsers panic before they were fixed.
mod regressions {
    use super::*;

    #[test]
    fn a_timestamp_past_i64_nanoseconds_is_an_error() {
        assert!(parse_time("9999999999999999999").is_err());
        assert!(parse_time("9223372037").is_err());
        assert!(parse_time("9223372036.854775807").is_ok());
    }

    #[test]
    fn a_duration_too_long_for_a_duration_is_refused() {
        assert_eq!(parse_duration(&format!("{}h", "9".repeat(400))), None);
        assert!(parse_time(&format!("{}h", "9".repeat(30))).is_err());
        assert!(parse_time("87600h").is_ok());
    }

    #[test]
    fn a_huge_memory_limit_without_swap_does_not_overflow() {
        let h = HostConfig {
            memory: Some(i64::MAX),
            ..HostConfig::default()
        };
        validate::resources(&Resources::of_host(&h), &host(), false).unwrap();
        let r = crate::ocispec::resources::resources(&h, false, Vec::new()).unwrap();
        assert_eq!(r.memory().unwrap().swap(), Some(i64::MAX));
    }
}
