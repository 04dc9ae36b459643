//! The operator's commands besides `serve`: check a config, look at tickets and the
//! outbox straight from the store (they work while the gateway runs, or when it is
//! down).

use std::fmt::Write as _;

use switchboard_core::TicketStatus;
use switchboard_core::access::Scope;
use switchboard_core::store::queries::{messages, outbox, tickets};

use crate::app::open_store;
use crate::config::Config;

/// `check-config`: a summary of what would run.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let backend = match &config.storage.backend {
        crate::config::Backend::Sqlite { .. } => "sqlite",
        crate::config::Backend::Postgres { .. } => "postgres",
    };
    let _ = writeln!(out, "listen: {}", config.server.listen);
    let _ = writeln!(
        out,
        "store: {backend} (data in {})",
        config.storage.data_dir.display()
    );
    let _ = writeln!(
        out,
        "agents: {}",
        config
            .agents
            .iter()
            .map(|a| format!("{} ({})", a.name, a.role.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for c in &config.channels {
        let _ = writeln!(
            out,
            "channel {}: kind {}, {}",
            c.id,
            c.kind(),
            if c.enabled { "enabled" } else { "disabled" }
        );
    }
    out
}

/// `tickets list`
pub async fn list_tickets(
    config: &Config,
    status: Option<TicketStatus>,
    channel: Option<String>,
    text: Option<String>,
    limit: usize,
) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let filter = tickets::TicketFilter {
        status,
        channel,
        text,
        limit,
        ..Default::default()
    };
    let (list, _) = store.read(move |c| tickets::list(c, &filter)).await?;
    let mut out = format!(
        "{:<11} {:<9} {:<14} {:<20} SUBJECT\n",
        "REFERENCE", "STATUS", "CHANNEL", "LAST MESSAGE"
    );
    for t in list {
        let when = t.last_message_at.to_rfc3339();
        let _ = writeln!(
            out,
            "{:<11} {:<9} {:<14} {:<20} {}",
            t.reference,
            t.status,
            t.channel,
            when.get(..19).unwrap_or(&when),
            terminal_safe(&t.subject.unwrap_or_default(), false)
        );
    }
    Ok(out)
}

/// `tickets show`
pub async fn show_ticket(config: &Config, key: String) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let (ticket, list) = store
        .read(move |c| {
            let ticket = tickets::find_by_id_or_reference(c, &key, &Scope::All)?;
            let list = messages::for_ticket(c, ticket.id)?;
            Ok((ticket, list))
        })
        .await?;
    let mut out = format!(
        "{} ({}) {} on {} / {}\nsubject: {}\n",
        ticket.reference,
        ticket.id,
        ticket.status,
        ticket.channel,
        terminal_safe(&ticket.conversation, false),
        terminal_safe(&ticket.subject.unwrap_or_default(), false)
    );
    for m in list {
        let status = match (m.delivery_status, &m.failure_reason) {
            (Some(s), Some(reason)) => format!(" [{s}: {}]", terminal_safe(reason, false)),
            (Some(s), None) => format!(" [{s}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "\n{} {} {} via {}{status}\n{}",
            m.created_at,
            m.direction,
            terminal_safe(&m.author, false),
            m.channel,
            terminal_safe(&m.text, true)
        );
    }
    Ok(out)
}

/// `outbox`: what is waiting to go out, per channel, and the latest failures.
pub async fn outbox_status(config: &Config) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let (depth, failed) = store
        .read(|c| {
            let depth = outbox::depth(c)?;
            let failed = c.query(
                "SELECT o.message_id, o.channel, o.last_error FROM outbox o WHERE o.state = 'failed'
                 ORDER BY o.updated_at DESC LIMIT 20",
                &[],
            )?;
            Ok((depth, failed))
        })
        .await?;
    let mut out = String::from("waiting to be sent:\n");
    if depth.is_empty() {
        out.push_str("  nothing\n");
    }
    for (channel, n) in depth {
        let _ = writeln!(out, "  {channel}: {n}");
    }
    out.push_str("latest failures:\n");
    if failed.is_empty() {
        out.push_str("  none\n");
    }
    for row in failed {
        let _ = writeln!(
            out,
            "  message {} on {}: {}",
            row.i64(0)?,
            row.string(1)?,
            terminal_safe(&row.opt_string(2)?.unwrap_or_default(), false)
        );
    }
    Ok(out)
}

/// Customer-supplied text made safe to print: control characters (ESC and the rest
/// of C0 and C1, DEL) and the bidirectional overrides that reorder what a terminal
/// shows become visible `\u{..}` escapes, so a message cannot clear the screen,
/// retitle the window or disguise what follows. With `multiline`, line breaks and
/// tabs stay as they are; other text (Malay, Chinese, emoji) is untouched.
fn terminal_safe(text: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let kept_whitespace = multiline && matches!(c, '\n' | '\t');
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && !kept_whitespace) || bidi {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn escape_sequences_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(terminal_safe("\u{1b}[2Jgone", false), "\\u{1b}[2Jgone");
        assert_eq!(
            terminal_safe("\u{1b}]0;owned\u{7}title", false),
            "\\u{1b}]0;owned\\u{7}title"
        );
        assert_eq!(
            terminal_safe("invoice\u{202e}fdp.exe", false),
            "invoice\\u{202e}fdp.exe"
        );
        assert_eq!(
            terminal_safe("a\u{9b}31mb\u{7f}", false),
            "a\\u{9b}31mb\\u{7f}"
        );
        assert_eq!(
            terminal_safe("line one\nline two", false),
            "line one\\u{a}line two"
        );
        assert_eq!(
            terminal_safe("line one\n\tline two\r", true),
            "line one\n\tline two\\u{d}"
        );
        for kept in ["Terima kasih, Encik Ahmad", "我的提款还没到账", "café 🚀"] {
            assert_eq!(terminal_safe(kept, true), kept);
        }
    }
}
