//! JSON API v1: the portal's operations for scripts and tools. Authenticated by an IdP bearer
//! token or by the browser session plus `X-CSRF-Token` (see [`caller`]); described by the
//! OpenAPI document served at `/api/v1/openapi.json`, which is generated from the handlers'
//! `#[utoipa::path]` annotations and the types they return: each route is registered together
//! with its documentation (`utoipa_axum::routes!`), so none is served undocumented.

pub mod caller;
pub mod error;
mod lifecycle;
pub mod model;
mod reads;
mod requests;
mod users;

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::caller::Caller;
use self::error::{ApiError, ErrorBody};
use self::model::MeView;
use crate::state::Portal;

/// Rows per page when the caller does not say.
const DEFAULT_LIMIT: usize = 50;
/// The most rows one call returns.
const MAX_LIMIT: usize = 200;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// The 401 every authenticated operation may answer.
const UNAUTHENTICATED: &str = "`unauthenticated` (no session cookie or bearer token) or \
    `invalid_token` (the bearer token is malformed, expired, not for jitgate, or bearer tokens \
    are not accepted because no OIDC provider is configured)";
/// The 503 of reads.
const UNAVAILABLE: &str = "`unavailable`: the store or the identity provider's keys cannot be \
    reached; retry shortly";
/// The 503 of changes, which also retry conflicting writes a few times.
const UNAVAILABLE_WRITE: &str = "`unavailable` (the store or the identity provider's keys \
    cannot be reached) or `contention` (too many concurrent changes to this request); retry \
    shortly";

/// The document's fixed parts; the paths and schemas come from the routes (see [`router`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "jitgate API",
        version = "1",
        description = "Just-in-time access requests, reviews, grants and the audit trail.\n\n\
            Authenticate with `Authorization: Bearer <token from the identity provider>` \
            (`bearer`) or with the portal's session cookie (`session`); session callers send \
            the CSRF token from `GET /me` in `X-CSRF-Token` (`csrf`) on every POST.\n\n\
            Errors are `{\"error\": {\"code\", \"message\"}}` (schema `Error`); codes are \
            stable and each response lists the ones it carries, messages are for people. \
            An unknown path under `/api/v1` answers 404 `not_found`. Times are RFC 3339 in \
            UTC, durations whole seconds."
    ),
    servers((url = "/api/v1")),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "caller", description = "Who is calling"),
        (name = "requests", description = "Access requests and their decisions"),
        (name = "grants", description = "Access in force"),
        (name = "audit", description = "The audit trail"),
        (name = "users", description = "What admins do to accounts"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The three ways a caller proves who it is, named in each operation's `security`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An ID token or JWT access token from the configured identity provider, \
                         with jitgate's client id (or a configured audience) as audience. \
                         Accepted only when the identity provider is OIDC.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "jitgate_session",
                "The portal's session cookie: `jitgate_session`, or `__Host-jitgate_session` \
                 when the portal is served over HTTPS.",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                caller::CSRF_HEADER_NAME,
                "With a session, required on every POST: the `csrf_token` from `GET /me`. \
                 Bearer callers need none.",
            ))),
        );
    }
}

/// The API's routes and their document, built together: `routes!` registers each handler
/// at the path and methods of its `#[utoipa::path]`.
fn router() -> (Router<Portal>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(document))
        .routes(routes!(me))
        .routes(routes!(requests::list, requests::create))
        .routes(routes!(requests::get))
        .routes(routes!(requests::cancel))
        .routes(routes!(requests::approve))
        .routes(routes!(requests::deny))
        .routes(routes!(requests::revoke))
        .routes(routes!(lifecycle::pause))
        .routes(routes!(lifecycle::resume))
        .routes(routes!(lifecycle::extend))
        .routes(routes!(lifecycle::acknowledge))
        .routes(routes!(reads::grants))
        .routes(routes!(reads::audit))
        .routes(routes!(users::end_sessions))
        .split_for_parts()
}

/// The OpenAPI document the API serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().1
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| openapi().to_pretty_json().expect("the OpenAPI document serialises"));

/// The API's routes, to be nested under [`PREFIX`].
pub fn routes() -> Router<Portal> {
    router().0.fallback(|| async { ApiError::not_found("no such API endpoint") })
}

/// This document
///
/// The OpenAPI 3.1 description of this API. Needs no authentication.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)),
)]
async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// Who the caller is
///
/// Identity and roles as the API sees them and, for session callers, the CSRF token to send
/// on changes.
#[utoipa::path(
    get,
    path = "/me",
    tag = "caller",
    operation_id = "me",
    responses(
        (status = 200, description = "The caller", body = MeView),
        (status = 401, description = UNAUTHENTICATED, body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn me(caller: Caller) -> Json<MeView> {
    Json(MeView {
        email: caller.identity.user.to_string(),
        groups: caller.identity.groups.iter().map(ToString::to_string).collect(),
        admin: caller.is_admin,
        reviews: caller.reviews.iter().map(ToString::to_string).collect(),
        csrf_token: caller.csrf,
    })
}

/// A JSON body that may be empty (`{}` then): actions like approve need no fields, and a
/// script should not have to send a body or a content type for them. Bodies documented as
/// optional are read as `Option<T>`, so `null` means none too.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let bad = |error: serde_json::Error| ApiError::invalid(format!("bad JSON body: {error}"));
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(bad)?;
    // serde reads a struct from an array too (`[]` is every field's default): the document
    // promises an object.
    if !(value.is_object() || value.is_null()) {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(bad)
}

fn limit(asked: Option<usize>) -> usize {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::error::CODES;

    fn document() -> Value {
        serde_json::from_str(&super::DOCUMENT).unwrap()
    }

    /// Every `$ref` resolves, every security requirement names a defined scheme, and every
    /// error response names its codes, each one the API can answer with.
    #[test]
    fn the_document_is_consistent() {
        let doc = document();
        if std::env::var_os("JITGATE_PRINT_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        assert_eq!(doc["openapi"], "3.1.0");
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/").skip(1) {
            let pointer = format!("/{}", reference.split('"').next().unwrap());
            assert!(doc.pointer(&pointer).is_some(), "{pointer} is defined");
        }
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let name = format!("{method} {path}");
                for requirement in operation["security"].as_array().into_iter().flatten() {
                    for scheme in requirement.as_object().unwrap().keys() {
                        assert!(schemes.contains_key(scheme), "{name}: {scheme} is defined");
                    }
                }
                let writes = method == "post";
                if path != "/openapi.json" {
                    let csrf = operation["security"].to_string().contains("csrf");
                    assert_eq!(csrf, writes, "{name}: session writes need the CSRF header");
                }
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if status.starts_with('2') {
                        continue;
                    }
                    let description = response["description"].as_str().unwrap();
                    let named: Vec<&str> = CODES
                        .iter()
                        .copied()
                        .filter(|c| description.contains(&format!("`{c}`")))
                        .collect();
                    assert!(!named.is_empty(), "{name} {status} names its codes: {description}");
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{name} {status}"
                    );
                }
            }
        }
        let codes = &doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"];
        assert_eq!(codes.as_array().unwrap().len(), CODES.len());
    }
}
