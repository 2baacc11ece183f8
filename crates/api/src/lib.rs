//! berth-api: the Docker Engine API (moby's `api/swagger.yaml`) over HTTP/1.1 on unix and TCP
//! sockets. Handlers are thin: they parse Docker's requests, call the engine, and render
//! Docker's JSON (`views`); errors leave through one class → status map (`error`).
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

mod error;
mod routes;
mod server;
mod stream;
mod tls;
mod version;
pub mod views;

use std::future::Future;

pub use error::{ApiError, status_of};
pub use server::{Listen, ServeError};
pub use tls::{TlsError, TlsFiles};
pub use version::{API_VERSION, ApiVersion, MIN_API_VERSION};

/// Serves the API for `engine` on `listeners` until `shutdown` completes.
pub async fn serve(
    listeners: Vec<Listen>,
    engine: berth_engine::Engine,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    server::serve_router(&listeners, routes::router(engine), shutdown).await
}
