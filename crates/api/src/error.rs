//! One error type at the HTTP edge: a class (from any library's `HasKind`) becomes Docker's
//! status code, the message becomes Docker's `{"message": "..."}` body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_errdefs::{ErrorKind, HasKind};

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// Handlers return this.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The status code of an error class (moby's `errdefs` → HTTP map).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// From any classified library error.
    pub fn from_lib<E: std::error::Error + HasKind + 'static>(e: &E) -> Self {
        Self::new(status_of(e.kind()), berth_errdefs::chain(e))
    }
}

impl From<berth_engine::EngineError> for ApiError {
    fn from(e: berth_engine::EngineError) -> Self {
        let status = match &e {
            // The CLI turns these messages into exit codes 126/127; Docker answers 400.
            berth_engine::EngineError::StartFailed { code, .. } if *code == 126 || *code == 127 => {
                StatusCode::BAD_REQUEST
            }
            _ => status_of(e.kind()),
        };
        Self::new(status, berth_errdefs::chain(&e))
    }
}

impl From<berth_image::ImageError> for ApiError {
    fn from(e: berth_image::ImageError) -> Self {
        Self::from_lib(&e)
    }
}

impl From<berth_network::NetError> for ApiError {
    fn from(e: berth_network::NetError) -> Self {
        Self::from_lib(&e)
    }
}

impl From<berth_engine::distribution::DistributionError> for ApiError {
    fn from(e: berth_engine::distribution::DistributionError) -> Self {
        Self::from_lib(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, "{}", self.message);
        } else {
            tracing::debug!(status = %self.status, "{}", self.message);
        }
        if self.status == StatusCode::NOT_MODIFIED {
            return self.status.into_response();
        }
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_dockers_status() {
        assert_eq!(status_of(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_of(ErrorKind::Conflict), StatusCode::CONFLICT);
        assert_eq!(
            status_of(ErrorKind::InvalidArgument),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(ErrorKind::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn body_is_dockers_error_json() {
        let r = ApiError::not_found("No such container: x").into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
