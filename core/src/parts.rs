//! Replies that go out as several provider messages (a long text split at the
//! channel's limit, files after the text). After each part the outbox entry records
//! how far the reply got, so that a retry after a failure in the middle sends only
//! the rest; the first part's provider id stays the reply's id for status updates.

use std::future::Future;

use crate::connector::{ChannelContext, Outbound, Receipt, SendError};

/// How far a reply of several parts got: the entry's progress, `<done>:<first id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Parts already sent.
    pub done: usize,
    /// The provider id of the first part, once it is sent.
    pub first: Option<String>,
}

impl Progress {
    /// The progress an outbox entry carries; nothing done when it has none (or one
    /// this code did not write).
    pub fn of(outbound: &Outbound) -> Progress {
        outbound
            .progress
            .as_deref()
            .and_then(|p| p.split_once(':'))
            .and_then(|(done, first)| {
                Some(Progress {
                    done: done.parse().ok()?,
                    first: Some(first.to_owned()).filter(|f| !f.is_empty()),
                })
            })
            .unwrap_or_default()
    }
}

/// Sends `count` parts in order, skipping those an earlier attempt sent.
/// `send(index)` sends part `index` and answers the provider's id for it. The
/// receipt carries the first part's id.
pub async fn send<F, Fut>(
    context: &ChannelContext,
    outbound: &Outbound,
    count: usize,
    mut send: F,
) -> Result<Receipt, SendError>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<String, SendError>>,
{
    if count == 0 {
        return Err(SendError::permanent("the reply is empty"));
    }
    let Progress { done, mut first } = Progress::of(outbound);
    for index in done..count {
        let id = send(index).await?;
        let first = first.get_or_insert(id);
        if index + 1 < count {
            let progress = format!("{}:{first}", index + 1);
            if let Err(error) = context.save_progress(outbound.message_id, &progress).await {
                // A retry would repeat this part; say so rather than fail the send.
                tracing::warn!(message = outbound.message_id, %error, "cannot record how far a split reply got");
            }
        }
    }
    Ok(Receipt {
        external_id: first,
        segments: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_ignores_what_it_did_not_write() {
        let with = |progress: Option<&str>| {
            Progress::of(&Outbound {
                message_id: 1,
                text: String::new(),
                attachments: Vec::new(),
                thread: Default::default(),
                attempt: 1,
                progress: progress.map(str::to_owned),
                choices: Vec::new(),
            })
        };
        assert_eq!(with(None), Progress::default());
        assert_eq!(
            with(Some("2:42:7")),
            Progress {
                done: 2,
                first: Some("42:7".into())
            }
        );
        assert_eq!(with(Some("garbage")), Progress::default());
        assert_eq!(with(Some("x:1")), Progress::default());
    }
}
