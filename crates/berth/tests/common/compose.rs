//! Compose test fixtures: an ELK-shaped app of local busybox services (built from local
//! contexts with build args, config files bind-mounted read-only, a user network, published
//! ports on 127.0.0.1, depends_on), an image-only app, and drivers for `berth compose` and
//! `docker-compose` against a given daemon.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{run_to_files, stderr, stdout};

/// A project directory with its compose file and contexts; ports chosen free.
pub(crate) struct App {
    _root: tempfile::TempDir,
    dir: PathBuf,
    pub ports: Vec<u16>,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const ELK: &str = r#"# Elasticsearch, Logstash, Kibana — in busybox.
x-service: &defaults
  restart: "no"
  networks: [elk]
services:
  elasticsearch:
    <<: *defaults
    build:
      context: ./elasticsearch
      args:
        ES_VERSION: ${ES_VERSION:-7.17.0}
    volumes:
      - ./elasticsearch/config/elasticsearch.yml:/usr/share/elasticsearch/config/elasticsearch.yml:ro
      - esdata:/usr/share/elasticsearch/data
    environment:
      ES_JAVA_OPTS: "-Xmx256m -Xms256m"
      discovery.type: single-node
    command: ["sh", "-c", "cp /usr/share/elasticsearch/config/elasticsearch.yml /www/; echo $$ES_JAVA_OPTS > /www/env; exec httpd -f -p 9200 -h /www"]
    ports: ["127.0.0.1:${ES_PORT}:9200"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9200/version"]
      interval: 1s
      timeout: 5s
      retries: 60
  logstash:
    <<: *defaults
    build:
      context: ./logstash
      args: [LS_VERSION=7.17.0]
    volumes:
      - ./logstash/pipeline:/usr/share/logstash/pipeline:ro
    command: sh -c "wget -q -O /www/from-es http://elasticsearch:9200/version || echo unreachable > /www/from-es; cp /usr/share/logstash/pipeline/logstash.conf /www/; exec httpd -f -p 5000 -h /www"
    ports: ["127.0.0.1:${LS_PORT}:5000"]
    depends_on:
      elasticsearch: {condition: service_healthy}
  kibana:
    <<: *defaults
    build:
      context: ./kibana
      dockerfile: Dockerfile.kibana
      args: {KIBANA_VERSION: 7.17.0}
    volumes:
      - ./kibana/config/:/usr/share/kibana/config/:ro
    command: sh -c "wget -q -O /www/from-es http://elasticsearch:9200/version || echo unreachable > /www/from-es; cp /usr/share/kibana/config/kibana.yml /www/; exec httpd -f -p 5601 -h /www"
    ports: ["127.0.0.1:${KB_PORT}:5601"]
    depends_on:
      elasticsearch: {condition: service_healthy}
networks:
  elk:
    driver: bridge
volumes:
  esdata:
"#;

const IMAGE_ONLY: &str = r#"services:
  db:
    image: busybox
    command: sh -c "echo db-ready > /www/status; exec httpd -f -p 80 -h /www"
    working_dir: /www
    volumes: ["data:/www", "./conf:/conf:ro"]
    healthcheck:
      test: "wget -q -O /dev/null http://127.0.0.1/status"
      interval: 1s
      retries: 60
    networks:
      back:
        aliases: [database]
    labels: {tier: data}
  web:
    image: busybox
    command: sh -c "wget -q -O /www/from-db http://database/status || echo unreachable > /www/from-db; cat /conf/app.conf > /www/conf; exec httpd -f -p 8080 -h /www"
    volumes: ["./conf:/conf:ro", {type: tmpfs, target: /www}]
    environment: ["GREETING=${GREETING:-hello}"]
    ports: ["127.0.0.1:${WEB_PORT}:8080"]
    depends_on: {db: {condition: service_healthy}}
    networks: [back, front]
    stop_grace_period: 2s
  worker:
    image: busybox
    command: sh -c "echo $$GREETING; sleep 300"
    environment: ["GREETING=${GREETING:-hello}"]
    init: true
    networks: [back]
    stop_grace_period: 1s
networks:
  back:
  front:
volumes:
  data:
"#;

impl App {
    /// The ELK-shaped app.
    pub(crate) fn elk(project: &str) -> Self {
        let app = Self::new(project, 3);
        let d = app.path();
        for (ctx, arg, file) in [
            ("elasticsearch", "ES_VERSION", "Dockerfile"),
            ("logstash", "LS_VERSION", "Dockerfile"),
            ("kibana", "KIBANA_VERSION", "Dockerfile.kibana"),
        ] {
            write(
                &d.join(ctx).join(file),
                &format!(
                    "FROM busybox\nARG {arg}\nRUN mkdir -p /www && echo \"{ctx} ${arg}\" > /www/version\nCOPY . /ctx/\n"
                ),
            );
            // Excluded from the context by .dockerignore: the image's /ctx must not hold it.
            write(&d.join(ctx).join("secret.key"), "not for the image\n");
            write(&d.join(ctx).join(".dockerignore"), "*.key\n");
        }
        write(
            &d.join("elasticsearch/config/elasticsearch.yml"),
            "cluster.name: berth-elk\n",
        );
        write(
            &d.join("logstash/pipeline/logstash.conf"),
            "input { beats { port => 5044 } }\n",
        );
        write(
            &d.join("kibana/config/kibana.yml"),
            "server.name: kibana\nelasticsearch.hosts: [\"http://elasticsearch:9200\"]\n",
        );
        write(&d.join("compose.yaml"), ELK);
        write(
            &d.join(".env"),
            &format!(
                "ES_PORT={}\nLS_PORT={}\nKB_PORT={}\n",
                app.ports[0], app.ports[1], app.ports[2]
            ),
        );
        app
    }

    /// Services from the busybox image only (what berth runs before the builder lands).
    pub(crate) fn image_only(project: &str) -> Self {
        let app = Self::new(project, 1);
        let d = app.path();
        write(&d.join("conf/app.conf"), "mode=test\n");
        write(&d.join("compose.yaml"), IMAGE_ONLY);
        write(&d.join(".env"), &format!("WEB_PORT={}\n", app.ports[0]));
        app
    }

    fn new(project: &str, ports: usize) -> Self {
        let parent = tempfile::Builder::new()
            .prefix("berth-compose-")
            .tempdir_in("/tmp")
            .unwrap();
        // The directory's name is the project's name.
        let dir = parent.path().join(project);
        std::fs::create_dir(&dir).unwrap();
        Self {
            _root: parent,
            dir,
            ports: (0..ports).map(|_| free_port()).collect(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// `berth compose <args>` against `host`.
    pub(crate) fn berth(&self, host: &str, args: &[&str]) -> Output {
        run_to_files(
            Command::new(super::berth())
                .arg("compose")
                .arg("--progress")
                .arg("plain")
                .args(args)
                .current_dir(self.path())
                .env("DOCKER_HOST", host)
                .env_remove("BERTH_HOST")
                .env_remove("COMPOSE_FILE")
                .env_remove("COMPOSE_PROJECT_NAME"),
        )
    }

    /// `berth compose <args>`, asserting success; returns stdout.
    pub(crate) fn berth_ok(&self, host: &str, args: &[&str]) -> String {
        let o = self.berth(host, args);
        assert!(
            o.status.success(),
            "berth compose {args:?} failed:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// docker-compose 1.29 (Debian's) `<args>` against `host`, classic builder.
    pub(crate) fn docker_compose(&self, host: &str, args: &[&str]) -> Output {
        run_to_files(
            Command::new("docker-compose")
                .args(args)
                .current_dir(self.path())
                .env("DOCKER_HOST", host)
                .env("DOCKER_BUILDKIT", "0")
                .env("COMPOSE_DOCKER_CLI_BUILD", "0")
                .env_remove("COMPOSE_FILE")
                .env_remove("COMPOSE_PROJECT_NAME"),
        )
    }

    pub(crate) fn docker_compose_ok(&self, host: &str, args: &[&str]) -> String {
        let o = self.docker_compose(host, args);
        assert!(
            o.status.success(),
            "docker-compose {args:?} failed:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// GETs `http://127.0.0.1:<port><path>`, retrying for a while (a service may still be
/// starting); returns the body, or an empty string.
pub(crate) fn http_get(port: u16, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = Command::new("curl")
            .args(["-s", "-f", "--max-time", "3"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        if o.status.success() || Instant::now() > deadline {
            return String::from_utf8_lossy(&o.stdout).into_owned();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
