//! The helpdesk's part of the API: canned replies filled in for a ticket, knowledge
//! base suggestions, satisfaction reports; and the survey page email
//! customers reach by the link in their survey.

use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::helpdesk::knowledge::Suggestion;
use switchboard_core::helpdesk::templates::Values;
use switchboard_core::helpdesk::{CsatGroup, CsatGrouping};
use switchboard_core::store::queries::{contacts, messages, tickets};
use switchboard_core::{Direction, Timestamp};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiPath};
use crate::http::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CannedQuery {
    /// Fill the replies in for this ticket (id or reference): its customer's name and
    /// language, its reference, and you as the agent.
    ticket: Option<String>,
}

/// A canned reply, in the language chosen for the ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedText {
    id: String,
    title: String,
    tags: Vec<String>,
    /// The languages it is written in.
    languages: Vec<String>,
    /// The language of `text`: the customer's if written in it, else the fallback.
    language: String,
    /// Placeholders filled for the ticket; without one, left empty.
    text: String,
}

/// The canned replies, filled in for a ticket when one is given.
#[utoipa::path(get, path = "/api/v1/canned", params(CannedQuery), tag = "helpdesk",
    responses((status = 200, body = [CannedText]), (status = 404)), security(("bearer" = [])))]
pub async fn canned(
    agent: Agent,
    State(state): State<AppState>,
    query: Result<Query<CannedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<CannedText>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (values, language) = match query.ticket {
        Some(key) => {
            let scope = agent.scope();
            let (ticket, contact) = state
                .gateway
                .store()
                .read(move |c| {
                    let ticket = tickets::find_by_id_or_reference(c, &key, &scope)?;
                    let contact = contacts::get(c, ticket.contact_id, &scope)?;
                    Ok((ticket, contact))
                })
                .await?;
            let values = Values {
                customer_name: contact.name,
                reference: Some(ticket.reference),
                agent_name: Some(agent.name.clone()),
                ..Values::default()
            };
            (Some(values), ticket.language)
        }
        None => (None, None),
    };
    let helpdesk = state.gateway.helpdesk();
    let chain = helpdesk.language_chain(language.as_deref());
    let replies = helpdesk
        .canned
        .iter()
        .map(|reply| {
            let (language, text) =
                reply.render(&chain, values.as_ref().unwrap_or(&Values::default()));
            CannedText {
                id: reply.id.clone(),
                title: reply.title.clone(),
                tags: reply.tags.clone(),
                languages: reply.languages.clone(),
                language,
                text,
            }
        })
        .collect();
    Ok(Json(replies))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// Best first; empty when no article is relevant.
    suggestions: Vec<Suggestion>,
}

/// Knowledge-base articles that match what the customer wrote on the ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket}/suggestions", tag = "helpdesk",
    params(("ticket" = String, Path, description = "Numeric id or reference")),
    responses((status = 200, body = Suggestions), (status = 404)), security(("bearer" = [])))]
pub async fn suggestions(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Suggestions>, ApiError> {
    let scope = agent.scope();
    let (ticket, texts) = state
        .gateway
        .store()
        .read(move |c| {
            let ticket = tickets::find_by_id_or_reference(c, &key, &scope)?;
            let texts: Vec<String> = messages::for_ticket(c, ticket.id)?
                .into_iter()
                .filter(|m| m.direction == Direction::Inbound)
                .map(|m| m.text)
                .collect();
            Ok((ticket, texts))
        })
        .await?;
    let mut text = ticket.subject.clone().unwrap_or_default();
    for part in texts.iter().rev().take(5) {
        text.push('\n');
        text.push_str(part);
    }
    let suggestions =
        state
            .gateway
            .helpdesk()
            .knowledge
            .suggest(&text, ticket.language.as_deref(), 5);
    Ok(Json(Suggestions { suggestions }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CsatQuery {
    /// `agent` (the default), `team` or `channel`.
    by: Option<CsatGrouping>,
    /// Surveys sent in the last this many days (default 30).
    days: Option<u32>,
}

/// Customer satisfaction per agent, team or channel: of a supervisor's teams, or of
/// every ticket for admins and auditors.
#[utoipa::path(get, path = "/api/v1/reports/csat", params(CsatQuery), tag = "helpdesk",
    responses((status = 200, body = [CsatGroup]), (status = 400), (status = 403)), security(("bearer" = [])))]
pub async fn csat_report(
    agent: Agent,
    State(state): State<AppState>,
    query: Result<Query<CsatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<CsatGroup>>, ApiError> {
    agent.require_manager("reading the satisfaction report")?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let days = i64::from(query.days.unwrap_or(30).clamp(1, 3660));
    let since = Timestamp(state.gateway.now().0 - days * 86_400_000);
    let report = state
        .gateway
        .csat_report(
            query.by.unwrap_or(CsatGrouping::Agent),
            since,
            &agent.scope(),
        )
        .await?;
    Ok(Json(report))
}

/// The survey page's policy: a form to its own address, nothing else.
const SURVEY_POLICY: &str =
    "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SURVEY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
    )
}

/// The survey page: five buttons. Answering takes a POST, so that mail scanners that
/// open links record nothing.
pub async fn survey_page(ApiPath(token): ApiPath<String>) -> Response {
    if token.len() != 24 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return page(
            StatusCode::NOT_FOUND,
            document("Survey not found", "<p>This survey link is not valid.</p>"),
        );
    }
    let buttons: String = (1..=5)
        .map(|n| format!("<button type=\"submit\" name=\"rating\" value=\"{n}\">{n}</button> "))
        .collect();
    page(
        StatusCode::OK,
        document(
            "How did we do?",
            &format!("<p>1 is poor, 5 is excellent.</p><form method=\"post\">{buttons}</form>"),
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct SurveyAnswer {
    rating: u8,
}

pub async fn survey_answer(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    answer: Result<Form<SurveyAnswer>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Ok(Form(answer)) = answer else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            document("Pick a number", "<p>Choose a rating from 1 to 5.</p>"),
        ));
    };
    Ok(
        match state.gateway.rate_by_link(&token, answer.rating).await? {
            Some((reference, true)) => page(
                StatusCode::OK,
                document(
                    "Thank you",
                    &format!("<p>Your rating of {reference} is recorded.</p>"),
                ),
            ),
            Some((reference, false)) => page(
                StatusCode::OK,
                document(
                    "Thank you",
                    &format!("<p>{reference} was already rated.</p>"),
                ),
            ),
            None => page(
                StatusCode::NOT_FOUND,
                document("Survey not found", "<p>This survey link is not valid.</p>"),
            ),
        },
    )
}
