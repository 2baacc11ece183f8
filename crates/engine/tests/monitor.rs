//! The zygote and the per-container monitor, end to end with real containers (root only).
//!
//! `harness = false`: the zygote must be forked while the process is single-threaded, which
//! the libtest harness (one thread per test) does not allow.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use berth_engine::monitor::logfile::LogConfig;
use berth_engine::monitor::protocol::{self, Event, Kind, Request};
use berth_engine::monitor::zygote::Zygote;
use berth_engine::monitor::{MonitorConfig, read_exit};
use berth_test_support::{Bundle, require_root, unique_id};

fn spec_json(args: &[&str]) -> String {
    let args = serde_json::to_string(args).unwrap();
    format!(
        r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"hostname":"mon",
        "process":{{"terminal":false,"user":{{"uid":0,"gid":0}},"args":{args},"cwd":"/",
          "env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}},
        "mounts":[{{"destination":"/proc","type":"proc","source":"proc"}},
          {{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]}},
          {{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]}}],
        "linux":{{"namespaces":[{{"type":"pid"}},{{"type":"mount"}},{{"type":"ipc"}},{{"type":"uts"}},{{"type":"network"}}]}}}}"#
    )
}

struct Fixture {
    _bundle: Bundle,
    cfg: MonitorConfig,
    _state: tempfile::TempDir,
}

fn fixture(args: &[&str]) -> Fixture {
    let bundle = Bundle::busybox().unwrap();
    bundle.write_config(&spec_json(args)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let id = unique_id("mon");
    let cfg = MonitorConfig {
        id: id.clone(),
        bundle: bundle.path().to_path_buf(),
        runtime_root: state.path().join("runtime"),
        socket: state.path().join("monitor.sock"),
        exit_file: state.path().join("exit.json"),
        log: Some(LogConfig {
            path: state.path().join(format!("{id}-json.log")),
            max_size: None,
            max_file: 1,
        }),
        tty: false,
        open_stdin: false,
        stdin_once: false,
        attach_stdout: true,
        attach_stderr: true,
    };
    Fixture {
        _bundle: bundle,
        cfg,
        _state: state,
    }
}

fn next_event(s: &mut UnixStream, output: &mut Vec<(Kind, Vec<u8>)>) -> Event {
    loop {
        let f = protocol::read_frame(s)
            .unwrap()
            .expect("monitor closed the connection");
        match f.kind {
            Kind::Json => return serde_json::from_slice(&f.payload).unwrap(),
            k => output.push((k, f.payload)),
        }
    }
}

fn run_to_exit(z: &Zygote) {
    let fx = fixture(&["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let (_pid, control) = z.spawn(&fx.cfg).unwrap();
    let mut s = UnixStream::from(control);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    assert!(matches!(next_event(&mut s, &mut out), Event::Started { pid, .. } if pid > 0));
    let Event::Exited(info) = next_event(&mut s, &mut out) else {
        panic!("expected Exited")
    };
    assert_eq!(info.code, 7);
    assert!(out.contains(&(Kind::Stdout, b"out\n".to_vec())), "{out:?}");
    assert!(out.contains(&(Kind::Stderr, b"err\n".to_vec())), "{out:?}");
    assert_eq!(read_exit(&fx.cfg.exit_file).unwrap().code, 7);
    let log = std::fs::read_to_string(fx.cfg.log.as_ref().unwrap().path.clone()).unwrap();
    assert!(log.contains(r#""log":"out\n","stream":"stdout""#), "{log}");
    assert!(log.contains(r#""log":"err\n","stream":"stderr""#), "{log}");
    assert!(
        !fx.cfg.runtime_root.join(&fx.cfg.id).exists(),
        "runtime state removed"
    );
}

fn start_failure_is_reported(z: &Zygote) {
    let fx = fixture(&["/no/such/program"]);
    let (_pid, control) = z.spawn(&fx.cfg).unwrap();
    let mut s = UnixStream::from(control);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    match next_event(&mut s, &mut Vec::new()) {
        Event::Failed { message, code } => {
            assert_eq!(code, 127, "{message}");
            assert!(message.contains("no such file or directory"), "{message}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(
        !fx.cfg.runtime_root.join(&fx.cfg.id).exists(),
        "nothing left behind"
    );
}

fn exec_and_reattach(z: &Zygote) {
    let fx = fixture(&["sleep", "30"]);
    let (_pid, control) = z.spawn(&fx.cfg).unwrap();
    let mut ctl = UnixStream::from(control);
    ctl.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(matches!(
        next_event(&mut ctl, &mut Vec::new()),
        Event::Started { .. }
    ));
    // A second connection runs a process in the container.
    let mut ex = UnixStream::connect(&fx.cfg.socket).unwrap();
    ex.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let process: oci_spec::runtime::Process = serde_json::from_str(
        r#"{"user":{"uid":0,"gid":0},"args":["sh","-c","echo in $(hostname) as pid $$; exit 3"],"cwd":"/","env":["PATH=/bin"]}"#,
    )
    .unwrap();
    protocol::write_json(
        &mut ex,
        &Request::Exec {
            exec_id: "e1".into(),
            process: Box::new(process),
            stdin: false,
        },
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        next_event(&mut ex, &mut out),
        Event::ExecStarted { .. }
    ));
    assert!(matches!(
        next_event(&mut ex, &mut out),
        Event::ExecExited { code: 3, .. }
    ));
    let text: Vec<u8> = out
        .iter()
        .filter(|(k, _)| *k == Kind::Stdout)
        .flat_map(|(_, d)| d.clone())
        .collect();
    assert!(
        String::from_utf8_lossy(&text).starts_with("in mon as pid"),
        "{out:?}"
    );
    // A "restarted daemon" says Hello on a new connection and learns the state.
    drop(ctl);
    let mut hello = UnixStream::connect(&fx.cfg.socket).unwrap();
    hello
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    protocol::write_json(&mut hello, &Request::Hello).unwrap();
    let Event::State {
        pid, exited: None, ..
    } = next_event(&mut hello, &mut Vec::new())
    else {
        panic!("expected State")
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let Event::Exited(info) = next_event(&mut hello, &mut Vec::new()) else {
        panic!("expected Exited")
    };
    assert_eq!(info.code, 137);
    let _ = hello.flush();
}

fn main() {
    if !require_root("monitor") || !Path::new(berth_test_support::BUSYBOX).exists() {
        return;
    }
    let z = Zygote::start().expect("zygote");
    type Case = (&'static str, fn(&Zygote));
    let tests: [Case; 3] = [
        ("run_to_exit", run_to_exit),
        ("start_failure_is_reported", start_failure_is_reported),
        ("exec_and_reattach", exec_and_reattach),
    ];
    for (name, t) in tests {
        t(&z);
        println!("test {name} ... ok");
    }
}
