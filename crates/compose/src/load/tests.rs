use super::*;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Self {
        let d = tempfile::Builder::new()
            .prefix("My_App.")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
        }
        Self(d)
    }

    fn load(&self, files: &[&str], vars: &[(&str, &str)]) -> Result<Project, LoadError> {
        let opts = Options {
            files: files.iter().map(|f| self.0.path().join(f)).collect(),
            ..Options::default()
        };
        let env = Environment::from_vars(vars.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        load(&opts, &env)
    }
}

fn err(r: Result<Project, LoadError>) -> String {
    match r {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    }
}

const APP: &str = r#"
x-common: &common
  restart: unless-stopped
services:
  web:
    <<: *common
    build:
      context: ./web
      args: ["VERSION=${VERSION:-1.0}"]
    ports: ["127.0.0.1:${PORT}:80"]
    environment:
      - MODE
      - FIXED=1
    volumes: ["./conf:/etc/web:ro", "data:/data"]
    depends_on:
      db: {condition: service_healthy}
    networks: [back]
    x-note: ignored
  db:
    image: busybox
    command: sh -c "echo 'a b'"
    healthcheck: {test: "true", interval: 1s}
    networks:
      back: {aliases: [database], ipv4_address: 10.9.0.5}
  debug:
    image: busybox
    profiles: [debug]
networks:
  back:
volumes:
  data:
"#;

#[test]
fn loads_interpolates_and_normalizes() {
    let d = Dir::new(&[("compose.yaml", APP), (".env", "PORT=8080\nMODE=dev\n")]);
    let p = d
        .load(&["compose.yaml"], &[("MODE", "prod")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.name.starts_with("my_app"), "{}", p.name);
    let web = &p.file.services["web"];
    assert_eq!(web.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(
        web.ports[0].published.as_ref().map(|s| s.0.as_str()),
        Some("8080")
    );
    // The shell wins over .env.
    assert_eq!(web.environment["MODE"].as_deref(), Some("prod"));
    let build = web.build.as_ref().unwrap_or_else(|| panic!("no build"));
    assert_eq!(build.args["VERSION"].as_deref(), Some("1.0"));
    assert_eq!(build.context, d.0.path().join("web").display().to_string());
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(d.0.path().join("conf").display().to_string().as_str())
    );
    assert!(web.volumes[0].read_only);
    let db = &p.file.services["db"];
    assert_eq!(
        db.command.as_deref(),
        Some(&["sh".to_owned(), "-c".into(), "echo 'a b'".into()][..])
    );
    assert_eq!(
        db.networks.as_ref().map(|n| n["back"].aliases.clone()),
        Some(vec!["database".to_owned()])
    );
    assert!(p.disabled.contains_key("debug"));
    assert_eq!(p.network_name("back"), format!("{}_back", p.name));
}

#[test]
fn merges_files_in_order() {
    let over = "services:\n  db:\n    image: busybox:other\n    environment: {EXTRA: 1}\n";
    let d = Dir::new(&[("compose.yaml", APP), ("over.yaml", over)]);
    let p = d
        .load(&["compose.yaml", "over.yaml"], &[("PORT", "1")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.file.services["db"].image.as_deref(),
        Some("busybox:other")
    );
    assert_eq!(
        p.file.services["db"].environment["EXTRA"].as_deref(),
        Some("1")
    );
}

#[test]
fn bad_input_names_the_service_and_key() {
    let d = Dir::new(&[
        ("list.yaml", "- a\n- b\n"),
        ("notyaml.yaml", "services: [\n"),
        ("other.yaml", "apiVersion: v1\nkind: Pod\n"),
        (
            "unknown.yaml",
            "services:\n  web:\n    image: a\n    colour: red\n",
        ),
        (
            "nested.yaml",
            "services:\n  web:\n    image: a\n    healthcheck: {intervall: 1s}\n",
        ),
        (
            "required.yaml",
            "services:\n  web:\n    image: \"${TAG:?set TAG}\"\n",
        ),
        (
            "cycle.yaml",
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
        ),
        (
            "undefined.yaml",
            "services:\n  a: {image: x, depends_on: [nope]}\n",
        ),
        ("noimage.yaml", "services:\n  a: {command: x}\n"),
        (
            "badport.yaml",
            "services:\n  a: {image: x, ports: [\"x:80\"]}\n",
        ),
    ]);
    assert!(err(d.load(&["list.yaml"], &[])).contains("not a Compose file"));
    assert!(err(d.load(&["notyaml.yaml"], &[])).contains("not valid YAML"));
    assert!(err(d.load(&["other.yaml"], &[])).contains("unknown key \"apiVersion\""));
    let e = err(d.load(&["unknown.yaml"], &[]));
    assert!(e.ends_with("services.web: unknown key \"colour\""), "{e}");
    let e = err(d.load(&["nested.yaml"], &[]));
    assert!(
        e.ends_with("services.web.healthcheck: unknown key \"intervall\""),
        "{e}"
    );
    let e = err(d.load(&["required.yaml"], &[]));
    assert!(
        e.ends_with("services.web.image: required variable TAG is missing a value: set TAG"),
        "{e}"
    );
    assert_eq!(
        err(d.load(&["cycle.yaml"], &[])),
        "dependency cycle detected: a -> b -> a"
    );
    assert_eq!(
        err(d.load(&["undefined.yaml"], &[])),
        "service \"a\": depends_on: undefined service \"nope\""
    );
    assert!(err(d.load(&["noimage.yaml"], &[])).starts_with("service \"a\": image:"));
    let e = err(d.load(&["badport.yaml"], &[]));
    assert!(
        e.contains("services.a.ports[0]") && e.contains("invalid port"),
        "{e}"
    );
}
