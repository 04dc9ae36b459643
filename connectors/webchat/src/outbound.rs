//! An agent's reply into the customer's chat: it takes the next number in the
//! conversation's log (once, however often the send is retried) and goes to the
//! conversation's live sockets. A customer who is away gets it when the widget
//! reconnects, from the log.

use switchboard_core::connector::{Outbound, Receipt, SendError};
use switchboard_core::model::Direction;
use switchboard_core::store::queries::conversation_log::Entry;

use crate::WebchatConnector;
use crate::hub::Push;
use crate::inbound::client_id;
use crate::protocol::{AgentView, FileView, MessageView, ServerFrame};
use crate::session::FileGrant;

/// How long a link to a file works: long enough for a chat left open for days.
const FILE_LINK_SECONDS: i64 = 7 * 86_400;

pub(crate) async fn send(
    connector: &WebchatConnector,
    outbound: &Outbound,
) -> Result<Receipt, SendError> {
    let conversation = &outbound.thread.conversation;
    let entry = connector
        .context
        .log_sent(conversation, outbound.message_id)
        .await
        .map_err(|e| SendError::retryable(format!("cannot record the reply: {e}")))?;
    connector.hub.set_ticket(
        conversation,
        (
            outbound.thread.ticket_id,
            outbound.thread.ticket_reference.clone(),
        ),
    );
    connector.publish(conversation, &entry, None);
    Ok(Receipt::default())
}

impl WebchatConnector {
    /// A logged message as the widget shows it.
    pub(crate) fn view(&self, conversation: &str, entry: &Entry) -> MessageView {
        let message = &entry.message;
        let expires = self.now_seconds() + FILE_LINK_SECONDS;
        let attachments = message
            .attachments
            .iter()
            .map(|a| FileView {
                name: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
                url: format!(
                    "files/{}",
                    self.signer.file_token(&FileGrant {
                        conversation: conversation.to_owned(),
                        attachment: a.id,
                        expires,
                    })
                ),
            })
            .collect();
        let customer = message.direction == Direction::Inbound;
        MessageView {
            seq: entry.seq,
            from: if customer { "customer" } else { "agent" },
            client_id: message
                .external_id
                .as_deref()
                .filter(|_| customer)
                .and_then(|id| client_id(conversation, id))
                .map(str::to_owned),
            agent: (!customer).then(|| AgentView::new(&message.author)),
            text: message.text.clone(),
            attachments,
            at: message.created_at.0,
        }
    }

    /// Pushes a logged message to the conversation's sockets (but `except`), and
    /// tells the other nodes, whose sockets in the conversation read it from the log.
    pub(crate) fn publish(&self, conversation: &str, entry: &Entry, except: Option<u64>) {
        self.announce_logged(conversation, entry.seq);
        let frame = ServerFrame::Message(self.view(conversation, entry)).to_json();
        self.hub.push(
            conversation,
            &Push::Message {
                seq: entry.seq,
                frame: frame.into(),
            },
            except,
        );
    }
}
