//! Listening sockets and the HTTP/1.1 connection loop (with upgrades, for attach and exec).

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UnixListener};
use tower::ServiceExt;

/// Where the daemon listens (`-H`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket, mode 0660, owned by `gid` when given (`-G`).
    Unix { path: PathBuf, gid: Option<u32> },
    /// Plain TCP (no TLS): anyone who can connect is root on this host.
    Tcp { addr: SocketAddr },
    /// TCP with TLS (`--tls`, `--tlsverify`).
    TcpTls {
        addr: SocketAddr,
        files: crate::tls::TlsFiles,
    },
}

/// Failures to bind.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening on {what}: {source}")]
    Bind {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS for tcp://{addr}: {source}")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: crate::tls::TlsError,
    },
}

enum Bound {
    Unix(UnixListener),
    Tcp(TcpListener),
    TcpTls(TcpListener, tokio_rustls::TlsAcceptor),
}

fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    let err = |source| ServeError::Bind {
        what: format!("tcp://{addr}"),
        source,
    };
    let std = std::net::TcpListener::bind(addr).map_err(err)?;
    std.set_nonblocking(true).map_err(err)?;
    TcpListener::from_std(std).map_err(err)
}

fn bind(l: &Listen) -> Result<Bound, ServeError> {
    let err = |what: String| move |source| ServeError::Bind { what, source };
    match l {
        Listen::Unix { path, gid } => {
            let what = format!("unix://{}", path.display());
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err(what.clone()))?;
            }
            // A stale socket from a killed daemon: the pid file lock already proved no other
            // daemon owns it.
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(what)(e)),
            }
            let listener = UnixListener::bind(path).map_err(err(what.clone()))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .map_err(err(what.clone()))?;
            if let Some(gid) = gid {
                std::os::unix::fs::chown(path, Some(0), Some(*gid)).map_err(err(what))?;
            }
            Ok(Bound::Unix(listener))
        }
        Listen::Tcp { addr } => Ok(Bound::Tcp(bind_tcp(*addr)?)),
        Listen::TcpTls { addr, files } => {
            let acceptor = crate::tls::acceptor(files).map_err(|source| ServeError::Tls {
                addr: *addr,
                source,
            })?;
            Ok(Bound::TcpTls(bind_tcp(*addr)?, acceptor))
        }
    }
}

/// Serves `router` on every listener until `shutdown` completes. Binding happens before the
/// first await so a bad `-H` fails start-up instead of a later request.
pub(crate) async fn serve_router(
    listeners: &[Listen],
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let bound = listeners.iter().map(bind).collect::<Result<Vec<_>, _>>()?;
    for b in bound {
        let router = router.clone();
        tokio::spawn(async move {
            match b {
                Bound::Unix(l) => loop {
                    if let Ok((s, _)) = l.accept().await {
                        spawn_connection(TokioIo::new(s), router.clone());
                    }
                },
                Bound::Tcp(l) => loop {
                    if let Ok((s, _)) = l.accept().await {
                        let _ = s.set_nodelay(true);
                        spawn_connection(TokioIo::new(s), router.clone());
                    }
                },
                Bound::TcpTls(l, acceptor) => loop {
                    if let Ok((s, peer)) = l.accept().await {
                        let _ = s.set_nodelay(true);
                        let (acceptor, router) = (acceptor.clone(), router.clone());
                        // The handshake runs in its own task: a slow client holds up no one.
                        tokio::spawn(async move {
                            match acceptor.accept(s).await {
                                Ok(tls) => spawn_connection(TokioIo::new(tls), router),
                                Err(e) => tracing::info!(%peer, "TLS handshake failed: {e}"),
                            }
                        });
                    }
                },
            }
        });
    }
    shutdown.await;
    for l in listeners {
        if let Listen::Unix { path, .. } = l {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

fn spawn_connection<I>(io: I, router: Router)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = router.clone();
        async move {
            match crate::version::route(req.map(axum::body::Body::new)) {
                Ok(req) => router.oneshot(req).await,
                Err(refused) => Ok(axum::response::IntoResponse::into_response(refused)),
            }
        }
    });
    tokio::spawn(async move {
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades();
        if let Err(e) = conn.await {
            tracing::debug!("connection ended: {e}");
        }
    });
}
