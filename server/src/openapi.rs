//! What every operation of the document can answer because of the HTTP edge, whatever its
//! handler does: added to each operation that does not list it already, so the document covers
//! every status the server sends (a client generated from it, or a fuzzer, is never surprised).
//!
//! - any `/v1/…` operation: 429 (a rate budget), 503 (the in-flight cap or the request
//!   deadline);
//! - with a request body: 400 (malformed), 413 (too large), 415 (wrong `Content-Type`), 422
//!   (the wrong shape, or text with a NUL character);
//! - with query parameters: 400 (unreadable), 422 (NUL character);
//! - with path parameters: 404 (an id that names nothing);
//! - reading credentials: 401 (a bad one is refused, even where none is needed).

use utoipa::openapi::{
    path::{Operation, ParameterIn},
    response::ResponseBuilder,
    ContentBuilder, OpenApi, Ref, RefOr,
};

pub fn add_edge_responses(openapi: &mut OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let has_path_params = path.contains('{');
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ]
        .into_iter()
        .flatten()
        {
            add(
                operation,
                "429",
                "rate_limited: this client's budget is spent (Retry-After)",
            );
            add(
                operation,
                "503",
                "overloaded or timeout: retry in a moment (Retry-After)",
            );
            if operation.request_body.is_some() {
                add(operation, "400", "malformed_json, or an unreadable body");
                add(operation, "413", "the body is too large");
                add(operation, "415", "the wrong Content-Type");
                add(
                    operation,
                    "422",
                    "the body has the wrong shape, or text with a NUL character",
                );
            }
            let query = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == ParameterIn::Query);
            if query {
                add(operation, "400", "invalid_query");
                add(operation, "422", "text with a NUL character");
            }
            if has_path_params {
                add(operation, "404", "not_found: the id names nothing");
            }
            // A bad credential is a 401 even where none is needed (never read as anonymous);
            // routes that read none (an upload's URL is its own credential) never answer 401.
            let reads_credentials = operation
                .security
                .iter()
                .flatten()
                .any(|requirement| !is_anonymous(requirement));
            if reads_credentials {
                add(
                    operation,
                    "401",
                    "unauthorized, session_expired, key_revoked…",
                );
            }
        }
    }
}

/// Whether a security alternative is "no credentials" (`{}`).
fn is_anonymous(requirement: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(requirement).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
}

fn add(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        });
}
