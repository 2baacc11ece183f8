//! Compose interop (root): docker-compose 1.29 (Debian's) against `berth daemon` unchanged;
//! `berth compose` and docker-compose recognising each other's projects; the same file through
//! the real dockerd and through berth giving the same `ps` and the same behaviour.
//!
//! Tests marked `#[ignore = "needs the builder ..."]` build images through `POST /build`,
//! which berth answers once the builder (branch `build`) is merged; run them with
//! `cargo test -p berth --test compose_interop -- --ignored`.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::collections::BTreeSet;

use common::compose::{App, http_get};
use common::daemon::Daemon;
use common::dockerd::Dockerd;
use common::{require_root, stdout};
use serde_json::Value;

fn berth_daemon(test: &str) -> Option<Daemon> {
    if !require_root(test) {
        return None;
    }
    let d = Daemon::start();
    d.import_busybox();
    Some(d)
}

#[test]
fn docker_compose_runs_an_image_only_app_on_berth() {
    let Some(d) = berth_daemon("docker_compose_image_only") else {
        return;
    };
    let app = App::image_only("dc");
    let host = d.host();
    app.docker_compose_ok(&host, &["up", "-d"]);
    assert_eq!(http_get(app.ports[0], "/from-db"), "db-ready\n");
    let ps = app.docker_compose_ok(&host, &["ps"]);
    for name in ["dc_db_1", "dc_web_1", "dc_worker_1"] {
        assert!(ps.contains(name), "{ps}");
    }
    assert!(
        ps.contains(&format!("127.0.0.1:{}->8080/tcp", app.ports[0])),
        "{ps}"
    );
    let logs = app.docker_compose_ok(&host, &["logs", "worker"]);
    assert!(logs.contains("hello"), "{logs}");
    assert_eq!(
        app.docker_compose_ok(&host, &["exec", "-T", "db", "cat", "/www/status"]),
        "db-ready\n"
    );
    app.docker_compose_ok(&host, &["down", "-v", "-t", "1"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        !d.ok(&["network", "ls", "--format", "{{.Name}}"])
            .contains("dc_")
    );
    assert!(!d.ok(&["volume", "ls", "-q"]).contains("dc_data"));
}

/// docker-compose 1.29 brings the ELK app up with `--build`, and `ps`, `logs`, `exec`,
/// `down -v` work; `docker` runs the docker CLI against the same daemon.
fn docker_compose_elk(app: &App, host: &str, docker: &dyn Fn(&[&str]) -> String) {
    app.docker_compose_ok(host, &["up", "-d", "--build"]);
    assert_eq!(http_get(app.ports[1], "/from-es"), "elasticsearch 7.17.0\n");
    assert_eq!(http_get(app.ports[2], "/from-es"), "elasticsearch 7.17.0\n");
    assert_eq!(
        http_get(app.ports[0], "/elasticsearch.yml"),
        "cluster.name: berth-elk\n"
    );
    let ps = app.docker_compose_ok(host, &["ps"]);
    for name in ["elk_elasticsearch_1", "elk_logstash_1", "elk_kibana_1"] {
        assert!(ps.contains(name), "{ps}");
    }
    let logs = app.docker_compose_ok(host, &["logs", "elasticsearch"]);
    assert!(logs.contains("elasticsearch_1"), "{logs}");
    assert_eq!(
        app.docker_compose_ok(host, &["exec", "-T", "logstash", "cat", "/www/version"]),
        "logstash 7.17.0\n"
    );
    app.docker_compose_ok(host, &["down", "-v", "--rmi", "local", "-t", "1"]);
    assert_eq!(docker(&["ps", "-aq"]), "");
    assert!(!docker(&["network", "ls", "--format", "{{.Name}}"]).contains("elk_"));
    assert_eq!(docker(&["volume", "ls", "-q", "--filter", "name=elk_"]), "");
}

#[test]
fn docker_compose_runs_the_elk_app_on_dockerd() {
    if !require_root("docker_compose_elk_dockerd") {
        return;
    }
    let dd = Dockerd::start();
    docker_compose_elk(&App::elk("elk"), &dd.host(), &|a| dd.ok(a));
}

#[test]
#[ignore = "needs the builder (POST /build, branch build)"]
fn docker_compose_runs_the_elk_app_on_berth() {
    let Some(d) = berth_daemon("docker_compose_elk") else {
        return;
    };
    docker_compose_elk(&App::elk("elk"), &d.host(), &|a| d.ok(a));
}

#[test]
fn each_tool_recognises_the_others_project() {
    let Some(d) = berth_daemon("compose_recognition") else {
        return;
    };
    let app = App::image_only("both");
    let host = d.host();
    // berth compose's project, seen and removed by docker-compose.
    app.berth_ok(&host, &["up", "-d"]);
    let ps = app.docker_compose_ok(&host, &["ps"]);
    for name in ["both-db-1", "both-web-1", "both-worker-1"] {
        assert!(
            ps.contains(name),
            "docker-compose does not see {name}:\n{ps}"
        );
    }
    app.docker_compose_ok(&host, &["down", "-v", "-t", "1"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // docker-compose's project, seen, converged (names kept) and removed by berth compose.
    app.docker_compose_ok(&host, &["up", "-d"]);
    let ps = app.berth_ok(&host, &["ps", "--format", "json"]);
    let names: BTreeSet<String> = ps
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["Name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["both_db_1", "both_web_1", "both_worker_1"]
            .map(String::from)
            .into()
    );
    app.berth_ok(&host, &["up", "-d"]);
    let after = d.ok(&["ps", "--format", "{{.Names}}"]);
    let after: BTreeSet<String> = after.lines().map(String::from).collect();
    assert_eq!(
        after, names,
        "berth compose renamed docker-compose's containers"
    );
    assert_eq!(http_get(app.ports[0], "/from-db"), "db-ready\n");
    app.berth_ok(&host, &["down", "-v", "-t", "1"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        !d.ok(&["network", "ls", "--format", "{{.Name}}"])
            .contains("both_")
    );
}

/// What must match across daemons: names, services, states, health, published ports.
fn ps_shape(out: &str, port: u16) -> Vec<String> {
    let mut rows: Vec<String> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let mut pubs: Vec<String> = v["Publishers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["PublishedPort"] != 0)
                .map(|p| {
                    format!(
                        "{}->{}/{}",
                        p["PublishedPort"],
                        p["TargetPort"],
                        p["Protocol"].as_str().unwrap()
                    )
                })
                .collect();
            pubs.sort();
            pubs.dedup();
            format!(
                "{} {} {} {} {}",
                v["Name"].as_str().unwrap(),
                v["Service"].as_str().unwrap(),
                v["State"].as_str().unwrap(),
                v["Health"].as_str().unwrap(),
                pubs.join(",").replace(&port.to_string(), "PORT")
            )
        })
        .collect();
    rows.sort();
    rows
}

/// docker-compose's table, rows reduced to name and state.
fn dc_shape(out: &str) -> Vec<String> {
    out.lines()
        .skip(2)
        .map(|l| {
            let cols: Vec<&str> = l.split("  ").filter(|c| !c.trim().is_empty()).collect();
            format!(
                "{} {}",
                cols[0].trim(),
                cols.get(2).map_or("", |s| s.trim())
            )
        })
        .collect()
}

#[test]
fn same_file_same_ps_on_dockerd_and_berth() {
    let Some(d) = berth_daemon("same_ps") else {
        return;
    };
    let dd = Dockerd::start();
    let mut shapes = Vec::new();
    for host in [dd.host(), d.host()] {
        let app = App::image_only("same");
        app.berth_ok(&host, &["up", "-d", "--wait"]);
        let port = app.ports[0];
        let behaviour = (http_get(port, "/from-db"), http_get(port, "/conf"));
        let ps = ps_shape(&app.berth_ok(&host, &["ps", "--format", "json"]), port);
        let dc = dc_shape(&app.docker_compose_ok(&host, &["ps"]));
        let logs = app.berth_ok(&host, &["logs", "--no-color", "worker"]);
        app.berth_ok(&host, &["down", "-v", "-t", "1"]);
        shapes.push((behaviour, ps, dc, logs));
    }
    assert_eq!(
        shapes[0].0,
        ("db-ready\n".to_owned(), "mode=test\n".to_owned())
    );
    assert_eq!(
        shapes[0], shapes[1],
        "dockerd (left) and berth (right) differ"
    );
    assert_eq!(stdout(&dd.run(&["ps", "-aq"])), "");
}
