//! The live feed: Server-Sent Events of ticket and message changes on this node.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::api::auth::Agent;
use crate::http::AppState;

/// `event: ticket.created|ticket.updated|message.created|message.updated`, `data:` the
/// event as JSON. A client that falls behind gets `event: lagged` and should reload.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, description = "An event stream", content_type = "text/event-stream")),
    security(("bearer" = [])))]
pub async fn feed(
    _agent: Agent,
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let shutdown = state.shutdown.clone();
    let stopped = async move { shutdown.wait().await };
    let events = futures::StreamExt::take_until(
        BroadcastStream::new(state.gateway.events().subscribe()),
        stopped,
    );
    let stream = events.map(|item| {
        Ok(match item {
            Ok(event) => SseEvent::default()
                .event(event.name())
                .json_data(&event)
                .unwrap_or_else(|_| SseEvent::default().event("error")),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                SseEvent::default().event("lagged").data(missed.to_string())
            }
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
