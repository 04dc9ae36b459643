//! Teams and assignment. A new ticket goes to the first team whose categories,
//! languages and channels take it; within the team, to an agent who is at work (seen
//! within `away_after`) while the team's calendar is open: in turn (round robin) or
//! to whoever has the fewest open tickets. When an agent goes away, the scheduler
//! hands their open tickets to a colleague, or back to the team's queue.
//!
//! Who is at work is kept in the store (`agent_presence`), so every node sees the
//! same agents, and the round-robin cursor too, so turns hold across nodes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::events::Event;
use crate::model::{Ticket, Timestamp};
use crate::store::queries::{channel_state, tickets};
use crate::store::{Connection, StoreError, Value, params};

use super::Helpdesk;

crate::model::string_enum!(
    /// How a team's tickets reach its agents.
    Assignment {
        /// Agents take tickets themselves.
        Manual => "manual",
        /// Each agent at work in turn.
        RoundRobin => "round_robin",
        /// The agent at work with the fewest open tickets.
        LeastLoaded => "least_loaded",
    }
);

/// One `[[helpdesk.teams]]` as the config writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    /// Agent names, as in `[[agents]]`: they see the team's tickets and are assigned
    /// them.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Supervisors' names: they see and manage the team's tickets, and are not
    /// assigned any.
    #[serde(default)]
    pub supervisors: Vec<String>,
    /// Categories (skills) it takes; empty: any.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Customer languages it takes (ISO 639-1); empty: any.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Channel ids it takes; empty: any.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Its shifts: a `[calendars]` name. Without one, always on shift.
    pub calendar: Option<String>,
    /// `round_robin` (the default), `least_loaded` or `manual`.
    pub assignment: Option<Assignment>,
}

#[derive(Debug, Clone)]
pub(crate) struct Team {
    pub name: String,
    pub agents: Vec<String>,
    pub categories: Vec<String>,
    languages: Vec<&'static str>,
    channels: Vec<String>,
    calendar: Option<Calendar>,
    pub assignment: Assignment,
}

impl Team {
    pub(crate) fn from_config(
        config: &TeamConfig,
        calendars: &HashMap<String, Calendar>,
    ) -> Result<Team, (String, String)> {
        crate::input::check_key("name", &config.name).map_err(|m| ("name".to_owned(), m))?;
        if config.name.trim().is_empty() {
            return Err(("name".into(), "a team needs a name".into()));
        }
        let mut languages = Vec::new();
        for (i, code) in config.languages.iter().enumerate() {
            languages.push(super::language::normalize(code).ok_or_else(|| {
                (
                    format!("languages[{i}]"),
                    format!("{code:?} is not a language code such as \"en\", \"ms\" or \"zh\""),
                )
            })?);
        }
        let calendar = match &config.calendar {
            Some(name) => Some(calendars.get(name).cloned().ok_or_else(|| {
                (
                    "calendar".to_owned(),
                    format!("names {name:?}, which is not a [calendars.{name}] section"),
                )
            })?),
            None => None,
        };
        let assignment = config.assignment.unwrap_or(Assignment::RoundRobin);
        if assignment != Assignment::Manual && config.agents.is_empty() {
            return Err((
                "agents".into(),
                format!("a team with {assignment} assignment needs agents"),
            ));
        }
        Ok(Team {
            name: config.name.clone(),
            agents: config.agents.clone(),
            categories: config.categories.clone(),
            languages,
            channels: config.channels.clone(),
            calendar,
            assignment,
        })
    }

    fn takes(&self, category: Option<&str>, language: Option<&str>, channel: &str) -> bool {
        (self.categories.is_empty()
            || category.is_some_and(|c| self.categories.iter().any(|x| x == c)))
            && (self.languages.is_empty() || language.is_some_and(|l| self.languages.contains(&l)))
            && super::takes(&self.channels, channel)
    }

    fn on_shift(&self, now: Timestamp) -> bool {
        self.calendar.as_ref().is_none_or(|c| c.is_open(now))
    }
}

impl Helpdesk {
    /// The team for a new ticket: the first that takes it.
    pub(crate) fn team_for(
        &self,
        category: Option<&str>,
        language: Option<&str>,
        channel: &str,
    ) -> Option<&Team> {
        self.teams
            .iter()
            .find(|t| t.takes(category, language, channel))
    }
}

/// How often an agent's presence is written: often enough for `away_after`, rarely
/// enough that an agent's requests do not each cost a write.
pub const PRESENCE_EVERY_MS: i64 = 15_000;

/// Records that an agent is at work now.
pub fn record_presence(
    conn: &mut dyn Connection,
    name: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO agent_presence (name, last_seen) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen",
        params![name, now.0],
    )?;
    Ok(())
}

impl crate::gateway::Gateway {
    /// Records that an agent is at work (any authenticated request): in this node's
    /// presence at once, and in the store, for routing on every node, at most every
    /// [`PRESENCE_EVERY_MS`] per agent.
    pub async fn agent_at_work(&self, name: &str) {
        let now = self.now();
        self.presence().agent_seen(now.0);
        if self.helpdesk().teams.is_empty()
            || !self
                .presence()
                .due_to_record(name, now.0, PRESENCE_EVERY_MS)
        {
            return;
        }
        let name = name.to_owned();
        let written = self
            .store()
            .write(move |conn| record_presence(conn, &name, now))
            .await;
        if let Err(error) = written {
            tracing::warn!(%error, "cannot record an agent's presence");
        }
    }
}

/// The team's agents at work now, in the team's order (none off shift).
fn at_work(
    conn: &mut dyn Connection,
    team: &Team,
    helpdesk: &Helpdesk,
    now: Timestamp,
) -> Result<Vec<String>, StoreError> {
    if !team.on_shift(now) || team.agents.is_empty() {
        return Ok(Vec::new());
    }
    let since = now.0 - helpdesk.away_after.as_millis() as i64;
    let placeholders: Vec<String> = (2..team.agents.len() + 2)
        .map(|i| format!("${i}"))
        .collect();
    let sql = format!(
        "SELECT name FROM agent_presence WHERE last_seen >= $1 AND name IN ({})",
        placeholders.join(", ")
    );
    let mut values: Vec<Value> = vec![since.into()];
    values.extend(team.agents.iter().map(Value::from));
    let seen: Vec<String> = conn
        .query(&sql, &values)?
        .iter()
        .map(|row| row.string(0))
        .collect::<Result<_, _>>()?;
    Ok(team
        .agents
        .iter()
        .filter(|a| seen.contains(a))
        .cloned()
        .collect())
}

/// Picks an agent of the team for a ticket, by the team's assignment; `None` when
/// assignment is manual or nobody is at work (the ticket waits in the team's queue).
pub(crate) fn pick_agent(
    conn: &mut dyn Connection,
    helpdesk: &Helpdesk,
    team: &Team,
    except: Option<&str>,
    now: Timestamp,
) -> Result<Option<String>, StoreError> {
    if team.assignment == Assignment::Manual {
        return Ok(None);
    }
    let candidates: Vec<String> = at_work(conn, team, helpdesk, now)?
        .into_iter()
        .filter(|a| Some(a.as_str()) != except)
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let chosen = match team.assignment {
        Assignment::RoundRobin => {
            let key = format!("round_robin.{}", team.name);
            let last = channel_state::get(conn, "helpdesk", &key)?;
            // The next agent after the last one served, in the team's order.
            let position = last
                .and_then(|last| team.agents.iter().position(|a| *a == last))
                .map_or(0, |i| i + 1);
            let chosen = team.agents[position..]
                .iter()
                .chain(&team.agents[..position])
                .find(|a| candidates.contains(a))
                .cloned()
                .unwrap_or_else(|| candidates[0].clone());
            channel_state::set(conn, "helpdesk", &key, &chosen, now.0)?;
            chosen
        }
        _ => {
            let placeholders: Vec<String> =
                (1..=candidates.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT assignee, COUNT(*) FROM tickets WHERE status IN ('new', 'open', 'pending')
                 AND assignee IN ({}) GROUP BY assignee",
                placeholders.join(", ")
            );
            let values: Vec<Value> = candidates.iter().map(Value::from).collect();
            let mut load: HashMap<String, i64> = HashMap::new();
            for row in conn.query(&sql, &values)? {
                load.insert(row.string(0)?, row.i64(1)?);
            }
            // Fewest open tickets; the team's order breaks ties.
            candidates
                .iter()
                .min_by_key(|a| load.get(*a).copied().unwrap_or(0))
                .cloned()
                .expect("candidates is not empty")
        }
    };
    Ok(Some(chosen))
}

/// Moves a ticket to a team (and an agent of it, or nobody), with its event.
pub(crate) fn assign(
    conn: &mut dyn Connection,
    ticket: &Ticket,
    team: Option<&str>,
    assignee: Option<&str>,
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tickets SET team = $1, assignee = $2, updated_at = $3 WHERE id = $4",
        params![team, assignee, now.0, ticket.id],
    )?;
    events.push(Event::TicketUpdated {
        ticket_id: ticket.id,
        reference: ticket.reference.clone(),
        status: ticket.status,
    });
    Ok(())
}

/// Hands the open tickets of agents gone away (not seen within `away_after`) to a
/// colleague at work, or back to the team's queue; at most `limit` per call.
/// Returns the tickets moved and to whom.
pub(crate) fn reassign_away(
    conn: &mut dyn Connection,
    helpdesk: &Helpdesk,
    now: Timestamp,
    limit: usize,
    events: &mut Vec<Event>,
) -> Result<Vec<(i64, Option<String>, String)>, StoreError> {
    let since = now.0 - helpdesk.away_after.as_millis() as i64;
    let mut moved = Vec::new();
    for team in helpdesk
        .teams
        .iter()
        .filter(|t| t.assignment != Assignment::Manual)
    {
        let rows = conn.query(
            "SELECT t.id, t.assignee FROM tickets t
             LEFT JOIN agent_presence p ON p.name = t.assignee
             WHERE t.team = $1 AND t.assignee IS NOT NULL AND t.status IN ('new', 'open', 'pending')
               AND (p.last_seen IS NULL OR p.last_seen < $2)
             ORDER BY t.id LIMIT $3",
            params![team.name.as_str(), since, limit as i64],
        )?;
        for row in rows {
            let (id, away) = (row.i64(0)?, row.string(1)?);
            // Only agents of the team: an assignee from elsewhere was chosen by hand.
            if !team.agents.contains(&away) {
                continue;
            }
            let ticket = tickets::get(conn, id)?;
            let next = pick_agent(conn, helpdesk, team, Some(&away), now)?;
            assign(
                conn,
                &ticket,
                Some(&team.name),
                next.as_deref(),
                now,
                events,
            )?;
            moved.push((id, next, away));
        }
    }
    Ok(moved)
}
