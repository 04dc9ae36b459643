//! The API's one error type: every failure is JSON `{"error": {"code", "message"}}`
//! with the right status. Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchboard_core::StoreError;
use switchboard_core::agent::AgentError;

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed; the text says how.
    BadRequest(String),
    /// 401: no valid bearer token or session.
    Unauthorized,
    /// 403: the agent's role does not allow this.
    Forbidden {
        what: &'static str,
        /// The roles that may, in words (`the admin role`).
        needs: String,
        role: crate::config::Role,
    },
    NotFound(String),
    /// 422: well-formed, but cannot be done as asked.
    Unprocessable(String),
    /// 422 `reply_refused`: the channel cannot deliver this reply now.
    Refused(String),
    /// 503: the store is unavailable; retry.
    Unavailable,
    /// 500: logged here, answered without details.
    Internal(String),
    /// 409 `changed`: the ticket has messages the agent had not seen; they come with
    /// the error as `changes`.
    Changed(String, Vec<switchboard_core::Message>),
    /// 429 `rate_limited`, with `Retry-After`.
    TooManyRequests {
        retry_after: std::time::Duration,
        message: String,
    },
    /// Any other status with its own code.
    Status(StatusCode, &'static str, String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::TooManyRequests {
                retry_after,
                message,
            } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                let body = json!({"error": {"code": "rate_limited", "message": format!("{message}; retry in {seconds} s")}});
                let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(seconds),
                );
                return response;
            }
            ApiError::Changed(message, changes) => {
                let body = json!({"error": {"code": "changed", "message": message, "changes": changes}});
                return (StatusCode::CONFLICT, Json(body)).into_response();
            }
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in: a valid 'Authorization: Bearer <token>' header or session cookie is required".into(),
            ),
            ApiError::Forbidden { what, needs, role } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{what} needs {needs}; this agent's role is {}", role.as_str()),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            ApiError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", m),
            ApiError::Refused(m) => (StatusCode::UNPROCESSABLE_ENTITY, "reply_refused", m),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store is unavailable; retry shortly".into(),
            ),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error answering an API request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                )
            }
            ApiError::Status(status, code, m) => (status, code, m),
        };
        let mut response = (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Invalid(why) => ApiError::Unprocessable(why),
            StoreError::Unavailable(_) => ApiError::Unavailable,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(error: AgentError) -> Self {
        match error {
            AgentError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            AgentError::Invalid(why) => ApiError::Unprocessable(why),
            AgentError::Refused(why) => ApiError::Refused(why),
            AgentError::Changed { message, changes } => ApiError::Changed(message, changes),
            AgentError::Store(e) => e.into(),
            AgentError::Blob(e) => ApiError::Internal(e.to_string()),
        }
    }
}

/// `Json` whose rejections (bad syntax, wrong types, missing fields) come back in the
/// API's error format, naming the problem.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::Status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    rejection.body_text(),
                ),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::Status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send JSON with 'Content-Type: application/json'".into(),
                ),
                _ => ApiError::BadRequest(rejection.body_text()),
            }),
        }
    }
}

/// `Path` whose rejections (`/api/v1/contacts/abc`) come back in the API's error
/// format: 400, naming the segment that is wrong.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Unknown routes: 404 in the API's error format.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route {}", uri.path()))
}

/// A known route asked with another method: 405 in the API's error format.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::Status(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not answer {method}", uri.path()),
    )
}
