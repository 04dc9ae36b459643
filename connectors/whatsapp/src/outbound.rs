//! Replies out through `POST /{version}/{phone_number_id}/messages`: text split at
//! the channel's limit, files uploaded and sent with a caption, the customer's latest
//! message quoted; outside the 24-hour window, the configured template or nothing.
//!
//! Errors are read from `error.code`, never from the HTTP status: throttling and
//! WhatsApp's own failures are retried, the rest fail with a reason agents can act on.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::connector::{Outbound, OutboundAttachment, Receipt, SendError};
use switchboard_core::gateway::Concern;
use switchboard_core::helpdesk::flow::Choice;
use switchboard_core::model::Timestamp;
use switchboard_core::{parts, text};

use crate::WhatsAppConnector;
use crate::inbound::ErrorData;

/// The customer service window: free-form messages only this long after the
/// customer last wrote.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
/// What agents read when a reply cannot go out because the window is closed.
pub const WINDOW_CLOSED: &str = "outside WhatsApp's 24-hour window: the customer last wrote more than 24 hours ago, and only an approved template may be sent; configure a template (window_template) for the channel";
/// Why a reply with files is refused outside the window, even with a template.
pub const WINDOW_CLOSED_FILES: &str = "outside WhatsApp's 24-hour window only the configured template can be sent, without files; send the files after the customer writes again";
/// WhatsApp's longest media caption.
const CAPTION_LIMIT: usize = 1024;
/// A template parameter may not have new lines, tabs or more than four spaces in a
/// row, and is kept short.
const TEMPLATE_PARAMETER_LIMIT: usize = 1024;
/// The longest body of an interactive message.
const INTERACTIVE_BODY_LIMIT: usize = 1024;
/// Reply buttons an interactive message may carry; more choices go in a list.
const MOST_BUTTONS: usize = 3;
/// The longest button title (20) and list row title (24); longer labels are cut.
const BUTTON_TITLE_LIMIT: usize = 20;
/// The list's opening button: stars read the same in every language.
const LIST_BUTTON: &str = "⭐ 1-5";

/// How WhatsApp takes a file, by type (developers.facebook.com/docs/whatsapp/cloud-api/reference/media).
fn media_kind(attachment: &OutboundAttachment) -> (&'static str, usize) {
    const MB: usize = 1024 * 1024;
    match attachment.content_type.as_str() {
        "image/jpeg" | "image/png" => ("image", 5 * MB),
        "video/mp4" | "video/3gpp" => ("video", 16 * MB),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => ("audio", 16 * MB),
        _ => ("document", 100 * MB),
    }
}

/// Whether the customer service window is open at `now`.
pub(crate) fn window_open(last_inbound_at: Option<Timestamp>, now: Timestamp) -> bool {
    last_inbound_at.is_some_and(|at| now.0 - at.0 < WINDOW.as_millis() as i64)
}

/// One Graph API message of a reply.
enum Part<'a> {
    Text(String),
    File {
        attachment: &'a OutboundAttachment,
        caption: Option<String>,
    },
    Template(String),
    /// The text with the message's choices under it, as reply buttons or a list.
    Choices(String),
}

/// The messages a reply becomes: outside the window, the template; inside, the text
/// as the first file's caption when it fits, otherwise split texts, then the files.
fn plan<'a>(connector: &WhatsAppConnector, outbound: &'a Outbound, open: bool) -> Vec<Part<'a>> {
    let text = outbound.text.trim();
    if !open {
        return vec![Part::Template(text.to_owned())];
    }
    let captionable = outbound
        .attachments
        .first()
        .is_some_and(|a| media_kind(a).0 != "audio");
    let as_caption = captionable && text.chars().count() <= CAPTION_LIMIT;
    let mut plan = Vec::new();
    if !outbound.choices.is_empty() && outbound.attachments.is_empty() && !text.is_empty() {
        // The question goes last, with its buttons.
        let limit = connector.config.max_text_chars.min(INTERACTIVE_BODY_LIMIT);
        let mut texts = text::split(text, limit, |_| 1);
        let question = texts.pop().unwrap_or_default();
        plan.extend(texts.into_iter().map(Part::Text));
        plan.push(Part::Choices(question));
        return plan;
    }
    if !as_caption {
        plan.extend(
            text::split(text, connector.config.max_text_chars, |_| 1)
                .into_iter()
                .map(Part::Text),
        );
    }
    for (i, attachment) in outbound.attachments.iter().enumerate() {
        let caption = (i == 0 && as_caption && !text.is_empty()).then(|| text.to_owned());
        plan.push(Part::File {
            attachment,
            caption,
        });
    }
    plan
}

/// How many messages the reply still needs (rate-limit tokens).
pub(crate) fn cost(connector: &WhatsAppConnector, outbound: &Outbound) -> usize {
    let open = window_open(outbound.thread.last_inbound_at, connector.context.now());
    plan(connector, outbound, open)
        .len()
        .saturating_sub(parts::Progress::of(outbound).done)
}

pub(crate) async fn send(
    connector: &WhatsAppConnector,
    outbound: &Outbound,
) -> Result<Receipt, SendError> {
    let to = recipient(outbound)?;
    let open = window_open(outbound.thread.last_inbound_at, connector.context.now());
    if let Some(big) = outbound
        .attachments
        .iter()
        .find(|a| a.bytes.len() > media_kind(a).1)
    {
        let (kind, limit) = media_kind(big);
        return Err(SendError::permanent(format!(
            "attachment {} is {:.1} MB; WhatsApp takes {kind} files of at most {} MB",
            big.filename,
            big.bytes.len() as f64 / 1_048_576.0,
            limit / (1024 * 1024)
        )));
    }
    let plan = plan(connector, outbound, open);
    let quote = connector
        .config
        .reply_to_customer
        .then(|| outbound.thread.reply_to.clone())
        .flatten();
    let (plan, to, quote) = (&plan, &to, &quote);
    parts::send(
        &connector.context,
        outbound,
        plan.len(),
        |index| async move {
            let context = if index == 0 { quote.as_deref() } else { None };
            let body = match &plan[index] {
                Part::Text(text) => json!({
                    "type": "text",
                    "text": {"preview_url": connector.config.preview_url, "body": text},
                }),
                Part::File {
                    attachment,
                    caption,
                } => {
                    let media_id = upload(connector, attachment).await?;
                    let kind = media_kind(attachment).0;
                    let mut media = json!({"id": media_id});
                    if let Some(caption) = caption {
                        media["caption"] = json!(caption);
                    }
                    if kind == "document" {
                        media["filename"] = json!(attachment.filename);
                    }
                    json!({"type": kind, kind: media})
                }
                Part::Template(text) => template(connector, text)?,
                Part::Choices(text) => interactive(text, &outbound.choices),
            };
            post_message(connector, to, body, context).await
        },
    )
    .await
}

/// The customer's WhatsApp id: the conversation key, digits of their number.
fn recipient(outbound: &Outbound) -> Result<String, SendError> {
    let conversation = &outbound.thread.conversation;
    if conversation.starts_with("user:") {
        return Err(SendError::permanent(
            "this customer wrote without a phone number (a WhatsApp username); the Cloud API cannot address them by it yet",
        ));
    }
    if conversation.is_empty() || !conversation.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SendError::permanent(format!(
            "conversation {conversation:?} is not a WhatsApp id"
        )));
    }
    Ok(conversation.clone())
}

fn template(connector: &WhatsAppConnector, text: &str) -> Result<Value, SendError> {
    let Some(template) = &connector.config.window_template else {
        return Err(SendError::permanent(WINDOW_CLOSED));
    };
    let mut body = json!({
        "type": "template",
        "template": {"name": template.name, "language": {"code": template.language}},
    });
    if template.text_parameter {
        body["template"]["components"] = json!([{
            "type": "body",
            "parameters": [{"type": "text", "text": template_parameter(text)}],
        }]);
    }
    Ok(body)
}

/// An interactive message: up to three choices as reply buttons, more as a list. A
/// press comes back as a `button_reply` or `list_reply` with the choice's title.
fn interactive(text: &str, choices: &[Choice]) -> Value {
    let title = |label: &str| label.chars().take(BUTTON_TITLE_LIMIT).collect::<String>();
    if choices.len() <= MOST_BUTTONS {
        let buttons: Vec<Value> = choices
            .iter()
            .map(|c| json!({"type": "reply", "reply": {"id": c.id, "title": title(&c.label)}}))
            .collect();
        return json!({
            "type": "interactive",
            "interactive": {"type": "button", "body": {"text": text}, "action": {"buttons": buttons}},
        });
    }
    let rows: Vec<Value> = choices
        .iter()
        .map(|c| json!({"id": c.id, "title": title(&c.label)}))
        .collect();
    json!({
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": text},
            "action": {"button": LIST_BUTTON, "sections": [{"rows": rows}]},
        },
    })
}

/// The text as a template parameter takes it: one line, no runs of spaces.
fn template_parameter(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= TEMPLATE_PARAMETER_LIMIT {
        return one_line;
    }
    let mut cut: String = one_line
        .chars()
        .take(TEMPLATE_PARAMETER_LIMIT - 1)
        .collect();
    cut.push('…');
    cut
}

async fn post_message(
    connector: &WhatsAppConnector,
    to: &str,
    mut body: Value,
    context: Option<&str>,
) -> Result<String, SendError> {
    body["messaging_product"] = json!("whatsapp");
    body["recipient_type"] = json!("individual");
    body["to"] = json!(to);
    if let Some(id) = context {
        body["context"] = json!({"message_id": id});
    }
    let url = connector.graph_url(&format!("{}/messages", connector.config.phone_number_id));
    let response = connector
        .http
        .post(url)
        .bearer_auth(connector.config.access_token.expose())
        .json(&body)
        .send()
        .await
        .map_err(|e| SendError::retryable(format!("cannot reach the Graph API: {e}")))?;
    let answer: Value = answer(connector, response).await?;
    answer["messages"][0]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| SendError::retryable("the Graph API accepted the message without an id"))
}

/// Uploads a file for sending; its media id.
async fn upload(
    connector: &WhatsAppConnector,
    attachment: &OutboundAttachment,
) -> Result<String, SendError> {
    let part = reqwest::multipart::Part::bytes(attachment.bytes.to_vec())
        .file_name(attachment.filename.clone())
        .mime_str(&attachment.content_type)
        .map_err(|_| {
            SendError::permanent(format!(
                "attachment {} has an invalid content type {:?}",
                attachment.filename, attachment.content_type
            ))
        })?;
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", attachment.content_type.clone())
        .part("file", part);
    let url = connector.graph_url(&format!("{}/media", connector.config.phone_number_id));
    let response = connector
        .http
        .post(url)
        .bearer_auth(connector.config.access_token.expose())
        .multipart(form)
        .send()
        .await
        .map_err(|e| SendError::retryable(format!("cannot reach the Graph API: {e}")))?;
    let answer: Value = answer(connector, response).await?;
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| SendError::retryable("the Graph API stored the file without an id"))
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_user_title: Option<String>,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

/// The JSON of a successful answer, or what the error means for the reply.
async fn answer(
    connector: &WhatsAppConnector,
    response: reqwest::Response,
) -> Result<Value, SendError> {
    let status = response.status();
    let retry_after = switchboard_core::connector::retry_after(response.headers());
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SendError::retryable(format!("the Graph API answer was cut off: {e}")))?;
    if status.is_success() {
        connector.context.report_problem(Concern::Sending, None);
        return serde_json::from_slice(&bytes).map_err(|_| {
            SendError::retryable(format!("the Graph API answered {status} with no JSON"))
        });
    }
    let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(&bytes) else {
        let reason = format!("the Graph API answered {status} without an error object");
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            SendError::Retryable {
                reason,
                retry_after,
            }
        } else {
            SendError::permanent(reason)
        });
    };
    let details = error.error_data.as_ref().and_then(|d| d.details.as_deref());
    let title = error
        .error_user_title
        .as_deref()
        .or(error.message.as_deref());
    let reason = error_reason(error.code, title, details);
    if error.code == 190 {
        connector
            .context
            .report_problem(Concern::Sending, Some(&reason));
    }
    Err(if retryable(error.code) {
        SendError::Retryable {
            reason,
            retry_after: retry_after.or_else(|| (error.code == 131056).then_some(PAIR_RATE_WAIT)),
        }
    } else {
        SendError::permanent(reason)
    })
}

/// WhatsApp allows about one message every 6 s to one user.
const PAIR_RATE_WAIT: Duration = Duration::from_secs(6);

/// Throttling and WhatsApp's own trouble: worth another try later.
fn retryable(code: i64) -> bool {
    matches!(
        code,
        1 | 2 | 4 | 17 | 341 | 80007 | 130429 | 131000 | 131016 | 131048 | 131056 | 133004
    )
}

/// A Graph API error in words an agent (or admin) can act on; shared with the
/// `failed` statuses of webhooks.
pub(crate) fn error_reason(code: i64, title: Option<&str>, details: Option<&str>) -> String {
    let said = match (title, details) {
        (Some(title), Some(details)) if !details.is_empty() && details != title => {
            format!("{title}: {details}")
        }
        (Some(title), _) => title.to_owned(),
        (None, Some(details)) => details.to_owned(),
        (None, None) => "no description".to_owned(),
    };
    match code {
        131047 => WINDOW_CLOSED.to_owned(),
        190 => format!(
            "the channel's WhatsApp access token is expired or invalid; give the channel a new access_token (error 190: {said})"
        ),
        131026 => format!(
            "WhatsApp cannot deliver to this number: it may not be on WhatsApp, or its app is too old (error 131026: {said})"
        ),
        100 => format!("WhatsApp refused the message as invalid (error 100: {said})"),
        130429 | 80007 | 4 => format!("WhatsApp rate limit reached (error {code}: {said})"),
        131056 => {
            format!("too many messages to this customer in a short time (error 131056: {said})")
        }
        _ => format!("WhatsApp error {code}: {said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_24_hours_from_the_customers_last_message() {
        let hour = 3_600_000;
        let at = Timestamp(1_000 * hour);
        assert!(window_open(Some(at), Timestamp(at.0 + 23 * hour)));
        assert!(!window_open(Some(at), Timestamp(at.0 + 24 * hour)));
        assert!(!window_open(None, at), "never wrote: closed");
    }

    #[test]
    fn errors_are_classified_by_code() {
        for code in [4, 80007, 130429, 131000, 131056] {
            assert!(retryable(code), "{code}");
        }
        for code in [100, 131026, 131047, 190, 132000] {
            assert!(!retryable(code), "{code}");
        }
        assert_eq!(
            error_reason(131047, Some("Re-engagement message"), None),
            WINDOW_CLOSED
        );
        assert!(
            error_reason(190, Some("Error validating access token"), None).contains("access_token")
        );
        assert_eq!(
            error_reason(
                131000,
                Some("Something went wrong"),
                Some("Something went wrong")
            ),
            "WhatsApp error 131000: Something went wrong"
        );
    }

    #[test]
    fn template_parameters_are_one_line() {
        assert_eq!(
            template_parameter("Hello Ana,\n\n  your card\tarrived."),
            "Hello Ana, your card arrived."
        );
        let long = "x ".repeat(2000);
        assert_eq!(
            template_parameter(&long).chars().count(),
            TEMPLATE_PARAMETER_LIMIT
        );
    }

    #[test]
    fn few_choices_are_buttons_and_more_are_a_list() {
        let choice = |id: &str, label: &str| Choice {
            id: id.into(),
            label: label.into(),
        };
        let yes_no = interactive(
            "Solved?",
            &[choice("yes", "Yes"), choice("no", "No, still broken today")],
        );
        assert_eq!(yes_no["interactive"]["type"], "button");
        let buttons = &yes_no["interactive"]["action"]["buttons"];
        assert_eq!(buttons[0]["reply"], json!({"id": "yes", "title": "Yes"}));
        assert_eq!(
            buttons[1]["reply"]["title"], "No, still broken tod",
            "titles are cut at 20 characters"
        );
        let ratings: Vec<Choice> = (1..=5)
            .map(|n| choice(&format!("csat:{n}"), &n.to_string()))
            .collect();
        let list = interactive("How did we do?", &ratings);
        assert_eq!(list["interactive"]["type"], "list");
        assert_eq!(list["interactive"]["body"]["text"], "How did we do?");
        let rows = &list["interactive"]["action"]["sections"][0]["rows"];
        assert_eq!(rows.as_array().unwrap().len(), 5);
        assert_eq!(rows[4], json!({"id": "csat:5", "title": "5"}));
    }
}
