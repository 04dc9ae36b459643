//! The agent API under `/api/v1`: JSON, bearer tokens, cursor pagination, errors as
//! `{"error": {"code", "message"}}`. The OpenAPI document is served at
//! `/api/v1/openapi.json`, with an interactive page at `/docs`.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod contacts;
pub mod counts;
pub mod error;
pub mod events;
pub mod guesses;
pub mod helpdesk;
pub mod limits;
pub mod presence;
pub mod privacy;
pub mod session;
pub mod tickets;
pub mod tokens;

use axum::Router;
use axum::routing::{get, post};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::http::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard agent API", description = "Tickets from every channel in one inbox; replies go back out through the channel the customer used."),
    paths(
        tickets::list, counts::counts, tickets::show, tickets::reply, tickets::note, tickets::update,
        presence::report, presence::current,
        contacts::show, contacts::attachment, contacts::mail_body, events::feed,
        admin::channels, admin::retry, admin::me,
        tokens::agents, tokens::issue, tokens::rotate, tokens::revoke, audit::list, audit::export,
        privacy::preview, privacy::export, privacy::erase,
        helpdesk::canned, helpdesk::suggestions, helpdesk::csat_report,
        session::sign_in, session::current, session::sign_out,
    ),
    modifiers(&BearerAuth),
    tags((name = "tickets"), (name = "contacts"), (name = "events"), (name = "helpdesk", description = "Canned replies, knowledge-base suggestions, satisfaction"), (name = "session", description = "Browser sign-in for the inbox: a cookie session, with a CSRF token for changes"), (name = "admin", description = "Admin role only, except /me"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets", get(tickets::list))
        .route("/api/v1/tickets/counts", get(counts::counts))
        .route(
            "/api/v1/tickets/{ticket}",
            get(tickets::show).patch(tickets::update),
        )
        .route("/api/v1/tickets/{ticket}/replies", post(tickets::reply))
        .route("/api/v1/tickets/{ticket}/notes", post(tickets::note))
        .route(
            "/api/v1/tickets/{ticket}/presence",
            get(presence::current).post(presence::report),
        )
        .route("/api/v1/canned", get(helpdesk::canned))
        .route(
            "/api/v1/tickets/{ticket}/suggestions",
            get(helpdesk::suggestions),
        )
        .route("/api/v1/reports/csat", get(helpdesk::csat_report))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit/export", get(audit::export))
        .route("/api/v1/agents", get(tokens::agents))
        .route("/api/v1/agents/{name}/tokens", post(tokens::issue))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/v1/tokens/{id}/rotate", post(tokens::rotate))
        .route(
            "/csat/{token}",
            get(helpdesk::survey_page).post(helpdesk::survey_answer),
        )
        .route("/api/v1/contacts/{id}", get(contacts::show))
        .route("/api/v1/contacts/{id}/export", get(privacy::export))
        .route("/api/v1/contacts/{id}/erase", post(privacy::erase))
        .route("/api/v1/retention", get(privacy::preview))
        .route("/api/v1/attachments/{id}", get(contacts::attachment))
        .route("/api/v1/events", get(events::feed))
        .route("/api/v1/channels", get(admin::channels))
        .route("/api/v1/messages/{id}/html", get(contacts::mail_body))
        .route("/api/v1/messages/{id}/retry", post(admin::retry))
        .route("/api/v1/me", get(admin::me))
        .route(
            "/api/v1/session",
            post(session::sign_in)
                .get(session::current)
                .delete(session::sign_out),
        )
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", ApiDoc::openapi()))
}
