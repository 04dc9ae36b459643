//! The live feed: Server-Sent Events of ticket and message changes, resumable.
//!
//! Every event carries the id it has in the store's event log. A client that
//! reconnects with `Last-Event-ID` (browsers' EventSource does so by itself) first
//! gets every event after that id from the log, in order, then the live ones; when
//! the log no longer reaches back that far (events are kept a day) or the id is not
//! one this store gave, it gets `event: reload` and should reload what it shows.
//!
//! Between them come `event: presence` lines without an id: who is viewing or typing
//! on a ticket (see [`switchboard_core::presence`]), of the moment and never replayed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use switchboard_core::access::Scope;
use switchboard_core::events::Recorded;
use switchboard_core::store::Store;
use switchboard_core::store::queries::{events as event_log, tickets};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::api::auth::Agent;
use crate::api::error::ApiError;
use crate::http::AppState;
use switchboard_core::presence::PresenceUpdate;

/// How many logged events one read of the log takes while catching up.
const CATCH_UP_BATCH: usize = 500;

/// How long a feed limited to some tickets gathers events before it reads them.
const SCOPED_GATHER: Duration = Duration::from_millis(50);

/// How soon a browser reconnects after the stream breaks.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Resume after this event id, for clients that cannot set `Last-Event-ID` (a
    /// browser opening a new EventSource after the old one gave up).
    after: Option<String>,
}

/// `id:` the event's id, `event: ticket.created|ticket.updated|message.created|
/// message.updated`, `data:` the event as JSON; `event: reload` when the events
/// missed since `Last-Event-ID` are no longer kept. A stream that does not resume
/// starts with `event: ready` carrying the newest id, so that a client cut off before
/// the first real event still resumes from the right place.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id"),
        ("after" = Option<i64>, Query, description = "The same, for clients that cannot set headers; the header wins")),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream"), (status = 400)),
    security(("bearer" = [])))]
pub async fn feed(
    agent: Agent,
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let axum::extract::Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let event_id = |value: Option<&str>, what: &str| -> Result<Option<i64>, ApiError> {
        value
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id >= 0)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{what} must be the id of an event (a whole number)"
                        ))
                    })
            })
            .transpose()
    };
    let header = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(value.to_str().unwrap_or("not text")),
    };
    let resume = match event_id(header, "Last-Event-ID")? {
        Some(id) => Some(id),
        None => event_id(query.after.as_deref(), "after")?,
    };
    // Subscribed before the log is read, so nothing falls between the two.
    let live = state.gateway.events().subscribe();
    let presence = state.gateway.presence().subscribe();
    let store = state.gateway.store().clone();
    let (oldest, newest) = store.read(event_log::bounds).await?;
    let (tx, rx) = mpsc::channel(256);
    let shutdown = state.shutdown.clone();
    let scope = agent.scope();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = follow(store, scope, live, presence, tx, resume, (oldest, newest)) => {}
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

type Out = mpsc::Sender<Result<SseEvent, Infallible>>;

/// Sends the log after the resume point, then live events, until the client goes.
/// The broadcast only wakes the feed: an event that does not follow the last one sent
/// (events committed by other tasks arrive out of order, or some were missed) sends
/// the log's events up to it, so the client sees every id once, in order. A feed
/// limited to some tickets reads every event from the log, which leaves out the
/// others; so does each presence report, checked against the store.
async fn follow(
    store: Store,
    scope: Scope,
    mut live: broadcast::Receiver<Recorded>,
    mut presence: broadcast::Receiver<PresenceUpdate>,
    out: Out,
    resume: Option<i64>,
    (oldest, newest): (i64, i64),
) {
    let mut last = match resume {
        // The log holds everything after `id`.
        Some(id) if id <= newest && id + 1 >= oldest => id,
        Some(id) => {
            let reason = if id > newest {
                format!("event {id} is not one this gateway sent")
            } else {
                format!("the events after {id} are no longer kept")
            };
            let reload = SseEvent::default()
                .id(newest.to_string())
                .event("reload")
                .data(json!({ "reason": reason }).to_string());
            if out.send(Ok(reload)).await.is_err() {
                return;
            }
            newest
        }
        None => {
            let ready = SseEvent::default()
                .id(newest.to_string())
                .event("ready")
                .retry(RECONNECT_AFTER)
                .data("{}");
            if out.send(Ok(ready)).await.is_err() {
                return;
            }
            newest
        }
    };
    let mut catch_up = resume.is_some();
    loop {
        if catch_up {
            loop {
                let in_scope = scope.clone();
                let Ok((batch, read_up_to)) = store
                    .read(move |c| event_log::after(c, last, &in_scope, CATCH_UP_BATCH))
                    .await
                else {
                    // The client reconnects and resumes from what it got.
                    return;
                };
                let done = batch.len() < CATCH_UP_BATCH;
                for recorded in batch {
                    if send(&out, &recorded).await.is_err() {
                        return;
                    }
                }
                last = read_up_to;
                if done {
                    break;
                }
            }
        }
        catch_up = tokio::select! {
            _ = out.closed() => return,
            received = live.recv() => match received {
                Ok(recorded) if recorded.id <= last => false,
                Ok(recorded) if recorded.id == last + 1 && scope == Scope::All => {
                    last = recorded.id;
                    if send(&out, &recorded).await.is_err() {
                        return;
                    }
                    false
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if scope != Scope::All {
                        // Each catch-up is a read of the store: a busy desk's events
                        // are taken a moment's worth at a time, not one by one.
                        tokio::time::sleep(SCOPED_GATHER).await;
                        while live.try_recv().is_ok() {}
                    }
                    true
                }
                Err(RecvError::Closed) => return,
            },
            update = presence.recv() => {
                match update {
                    Ok(update) if !visible(&store, &scope, update.ticket_id).await => {}
                    Ok(update) => {
                        let event = SseEvent::default()
                            .event("presence")
                            .json_data(&update)
                            .unwrap_or_else(|_| SseEvent::default().event("error"));
                        if out.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    // A lagging client only misses moments that the next report repeats.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                false
            }
        };
    }
}

/// Whether the ticket is in scope; a store that cannot say hides it.
async fn visible(store: &Store, scope: &Scope, ticket_id: i64) -> bool {
    if *scope == Scope::All {
        return true;
    }
    let scope = scope.clone();
    store
        .read(move |c| tickets::find_by_id_or_reference(c, &ticket_id.to_string(), &scope))
        .await
        .is_ok()
}

async fn send(out: &Out, recorded: &Recorded) -> Result<(), ()> {
    let event = SseEvent::default()
        .id(recorded.id.to_string())
        .event(recorded.event.name())
        .json_data(&recorded.event)
        .unwrap_or_else(|_| SseEvent::default().event("error"));
    out.send(Ok(event)).await.map_err(|_| ())
}
