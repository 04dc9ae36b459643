//! The operator's commands besides `serve`: check a config, look at tickets and the
//! outbox straight from the store (they work while the gateway runs, or when it is
//! down).

use std::fmt::Write as _;

use switchboard_core::TicketStatus;
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
            t.subject.unwrap_or_default()
        );
    }
    Ok(out)
}

/// `tickets show`
pub async fn show_ticket(config: &Config, key: String) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let (ticket, list) = store
        .read(move |c| {
            let ticket = tickets::find_by_id_or_reference(c, &key)?;
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
        ticket.conversation,
        ticket.subject.unwrap_or_default()
    );
    for m in list {
        let status = match (m.delivery_status, &m.failure_reason) {
            (Some(s), Some(reason)) => format!(" [{s}: {reason}]"),
            (Some(s), None) => format!(" [{s}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "\n{} {} {} via {}{status}\n{}",
            m.created_at, m.direction, m.author, m.channel, m.text
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
            row.opt_string(2)?.unwrap_or_default()
        );
    }
    Ok(out)
}
