//! Helpdesk rules, the same on every channel, from the config's `[helpdesk]`:
//!
//! - [`guard`]: secrets customers should never send (seed phrases, private keys, API
//!   keys, card numbers, passwords), masked before anything is stored;
//! - [`language`]: which language a message is in;
//! - [`templates`]: the gateway's own messages to customers, per language, and
//!   agents' canned replies;
//! - [`knowledge`]: FAQ articles from Markdown files, suggested for a ticket;
//! - [`triage`]: category and priority of a new ticket, by rules;
//! - [`commands`]: what a customer may ask the gateway itself (a ticket's status, a
//!   satisfaction rating);
//! - [`sla`]: response and resolution targets in business time, and their timers;
//! - [`routing`]: teams, and assignment to agents at work;
//! - [`scheduler`]: the time-driven work (SLA warnings and breaches, agents gone
//!   away, webhook notifications), from the store, once across nodes.
//!
//! What happens to a message (triage, acknowledgement, warnings, answers to
//! commands) is decided in the transaction that stores it ([`flow`]), so that it
//! happens exactly once, and the gateway's own messages go out through the outbox
//! like any reply.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::calendar::Calendar;
use crate::model::Priority;
use crate::secret::Secret;

pub mod commands;
pub mod flow;
pub mod guard;
pub mod knowledge;
pub mod language;
pub mod routing;
pub mod scheduler;
pub mod sla;
pub mod templates;
pub mod triage;

use knowledge::KnowledgeBase;
use routing::{Team, TeamConfig};
use sla::{SlaPolicy, SlaPolicyConfig};
use templates::{CannedConfig, CannedReply, Texts, TextsConfig};
use triage::{Triage, TriageDefault, TriageRuleConfig};

/// `[helpdesk]` as the config writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpdeskConfig {
    /// The languages customers write in (ISO 639-1), for detection and texts; the
    /// first is the fallback. Empty: any language the detector knows, English last.
    #[serde(default)]
    pub languages: Vec<String>,
    /// The author shown on the gateway's own messages.
    pub sender_name: Option<String>,
    pub default_category: Option<String>,
    pub default_priority: Option<Priority>,
    /// A folder of Markdown articles, relative to the config file.
    pub knowledge: Option<String>,
    /// Answer `status SB-XXXXXX` from the ticket's customer (on by default).
    pub status_requests: Option<bool>,
    /// An agent not seen for this long counts as away: their open tickets go back
    /// to their team's assignment.
    pub away_after_minutes: Option<u64>,
    #[serde(default)]
    pub triage: Vec<TriageRuleConfig>,
    #[serde(default)]
    pub sla: Vec<SlaPolicyConfig>,
    #[serde(default)]
    pub teams: Vec<TeamConfig>,
    pub acknowledgement: Option<AcknowledgementConfig>,
    #[serde(default)]
    pub guard: GuardConfig,
    pub csat: Option<CsatConfig>,
    pub notify: Option<NotifyConfig>,
    #[serde(default)]
    pub texts: TextsConfig,
    #[serde(default)]
    pub canned: BTreeMap<String, CannedConfig>,
}

/// `[helpdesk.acknowledgement]`: a reply to a new ticket with its reference.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementConfig {
    /// Channel ids that acknowledge; empty: every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    /// At most one acknowledgement per ticket in this many hours (a reopened ticket
    /// is acknowledged again after it).
    pub window_hours: Option<u64>,
    /// Offer knowledge-base articles that match the message.
    #[serde(default)]
    pub suggest_articles: bool,
}

/// `[helpdesk.guard]`: secrets are always masked; this says whether the customer is
/// told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    #[serde(default = "yes")]
    pub warn: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig { warn: true }
    }
}

fn yes() -> bool {
    true
}

/// `[helpdesk.csat]`: a satisfaction survey after a ticket is resolved.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsatConfig {
    /// Channel ids that survey; empty: every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    /// The gateway's public address (`https://support.example.com`): email surveys
    /// link to `<public_url>/csat/<token>`. Without it email gets the 1-5 question.
    pub public_url: Option<String>,
    /// Answers later than this after the survey are ordinary messages.
    pub answer_within_hours: Option<u64>,
}

/// `[helpdesk.notify]`: SLA warnings and breaches are also POSTed here, signed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub url: String,
    /// Signs each body: `X-Switchboard-Signature: sha256=<hex HMAC>`.
    pub secret: Secret,
}

/// The checked rules.
#[derive(Debug, Clone)]
pub struct Helpdesk {
    pub(crate) languages: Vec<&'static str>,
    pub(crate) sender_name: String,
    pub triage: Triage,
    pub texts: Texts,
    pub canned: Vec<CannedReply>,
    pub knowledge: KnowledgeBase,
    pub(crate) policies: Vec<SlaPolicy>,
    pub(crate) teams: Vec<Team>,
    pub(crate) acknowledgement: Option<Acknowledgement>,
    pub(crate) warn_on_secrets: bool,
    pub(crate) csat: Option<Csat>,
    pub(crate) notify: Option<NotifyConfig>,
    pub(crate) status_requests: bool,
    pub(crate) away_after: Duration,
    /// Whether messages' languages are detected: only with a `[helpdesk]`, as nothing
    /// else uses them and detection is the costliest step of ingest.
    pub(crate) detects_language: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Acknowledgement {
    pub channels: Vec<String>,
    pub window: Duration,
    pub suggest_articles: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Csat {
    pub channels: Vec<String>,
    pub public_url: Option<String>,
    pub answer_within: Duration,
}

/// Whether a list of channel ids (empty: all) takes this channel.
pub(crate) fn takes(channels: &[String], channel: &str) -> bool {
    channels.is_empty() || channels.iter().any(|c| c == channel)
}

impl Default for Helpdesk {
    /// No `[helpdesk]`: no triage, SLAs, teams, automatic replies or language
    /// detection; secrets are masked and the customer warned.
    fn default() -> Self {
        let mut helpdesk =
            Helpdesk::from_config(&HelpdeskConfig::default(), &HashMap::new(), Path::new("."))
                .expect("the empty helpdesk config is valid");
        helpdesk.detects_language = false;
        helpdesk
    }
}

impl Helpdesk {
    /// Checks a config; the error names the key at fault, relative to `[helpdesk]`.
    /// `calendars` are the config's `[calendars]`; `config_dir` is where the config
    /// file is, for the knowledge folder.
    pub fn from_config(
        config: &HelpdeskConfig,
        calendars: &HashMap<String, Calendar>,
        config_dir: &Path,
    ) -> Result<Helpdesk, (String, String)> {
        let mut languages = Vec::with_capacity(config.languages.len());
        for (i, code) in config.languages.iter().enumerate() {
            let known = language::normalize(code).ok_or_else(|| {
                (
                    format!("languages[{i}]"),
                    format!("{code:?} is not a language code such as \"en\", \"ms\" or \"zh\""),
                )
            })?;
            if !languages.contains(&known) {
                languages.push(known);
            }
        }
        let triage = Triage::from_config(
            &config.triage,
            TriageDefault {
                category: config.default_category.clone(),
                priority: config.default_priority.unwrap_or(Priority::Normal),
            },
        )?;
        let texts =
            Texts::from_config(&config.texts).map_err(|(key, m)| (format!("texts.{key}"), m))?;
        let canned = config
            .canned
            .iter()
            .map(|(id, canned)| {
                CannedReply::from_config(id, canned)
                    .map_err(|(key, m)| (format!("canned.{key}"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let knowledge = match &config.knowledge {
            Some(folder) => KnowledgeBase::load(&config_dir.join(folder))
                .map_err(|m| ("knowledge".to_owned(), m))?,
            None => KnowledgeBase::default(),
        };
        let teams = config
            .teams
            .iter()
            .enumerate()
            .map(|(i, team)| {
                Team::from_config(team, calendars)
                    .map_err(|(key, m)| (format!("teams[{i}].{key}"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, team) in teams.iter().enumerate() {
            if teams[..i].iter().any(|t| t.name == team.name) {
                return Err((
                    format!("teams[{i}].name"),
                    format!("team {:?} is named twice", team.name),
                ));
            }
        }
        let policies = config
            .sla
            .iter()
            .enumerate()
            .map(|(i, policy)| {
                SlaPolicy::from_config(policy, calendars, &teams)
                    .map_err(|(key, m)| (format!("sla[{i}].{key}"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hours = |h: Option<u64>, default: u64| Duration::from_secs(h.unwrap_or(default) * 3600);
        let csat = match &config.csat {
            Some(csat) => {
                if let Some(url) = &csat.public_url
                    && !(url.starts_with("https://") || url.starts_with("http://"))
                {
                    return Err((
                        "csat.public_url".into(),
                        format!("{url:?} is not an http(s) address"),
                    ));
                }
                Some(Csat {
                    channels: csat.channels.clone(),
                    public_url: csat
                        .public_url
                        .as_ref()
                        .map(|u| u.trim_end_matches('/').to_owned()),
                    answer_within: hours(csat.answer_within_hours, 7 * 24),
                })
            }
            None => None,
        };
        if let Some(notify) = &config.notify
            && !(notify.url.starts_with("https://") || notify.url.starts_with("http://"))
        {
            return Err((
                "notify.url".into(),
                format!("{:?} is not an http(s) address", notify.url),
            ));
        }
        Ok(Helpdesk {
            languages,
            sender_name: config
                .sender_name
                .clone()
                .unwrap_or_else(|| "Support".into()),
            triage,
            texts,
            canned,
            knowledge,
            policies,
            teams,
            acknowledgement: config.acknowledgement.as_ref().map(|a| Acknowledgement {
                channels: a.channels.clone(),
                window: hours(a.window_hours, 24),
                suggest_articles: a.suggest_articles,
            }),
            warn_on_secrets: config.guard.warn,
            csat,
            notify: config.notify.clone(),
            status_requests: config.status_requests.unwrap_or(true),
            away_after: Duration::from_secs(config.away_after_minutes.unwrap_or(10) * 60),
            detects_language: true,
        })
    }

    /// The languages texts fall back through for a customer: theirs, then the
    /// configured ones in order.
    pub fn language_chain<'a>(&'a self, customer: Option<&'a str>) -> Vec<&'a str> {
        let mut chain: Vec<&str> = customer.into_iter().collect();
        chain.extend(self.languages.iter().copied());
        chain
    }

    /// Every category the rules name (triage, SLA policies, teams), sorted: what an
    /// agent may pick for a ticket.
    pub fn categories(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .triage
            .categories()
            .into_iter()
            .map(str::to_owned)
            .collect();
        all.extend(
            self.policies
                .iter()
                .flat_map(|p| p.categories.iter().cloned()),
        );
        all.extend(self.teams.iter().flat_map(|t| t.categories.iter().cloned()));
        all.sort();
        all.dedup();
        all
    }

    /// The team of this name.
    pub(crate) fn team(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.name == name)
    }
}

impl crate::gateway::Gateway {
    /// Records the `[helpdesk]` rules in the audit log when they differ from the
    /// rules recorded last (a changed config), so every change of rules is on record.
    pub async fn record_helpdesk_rules(
        &self,
        rules: serde_json::Value,
    ) -> Result<bool, crate::StoreError> {
        let now = self.now();
        self.store()
            .write(move |conn| {
                use crate::store::queries::audit;
                let last = audit::latest(conn, "helpdesk.rules")?;
                if last.as_ref().map(|e| &e.detail) == Some(&rules)
                    || (last.is_none() && rules.is_null())
                {
                    return Ok(false);
                }
                audit::append(
                    conn,
                    now,
                    audit::By::gateway("config"),
                    "helpdesk.rules",
                    None,
                    &rules,
                )?;
                Ok(true)
            })
            .await
    }
}

/// How satisfaction ratings are grouped in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatGrouping {
    Agent,
    Team,
    Channel,
}

/// Ratings of one agent, team or channel.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CsatGroup {
    /// The agent's, team's or channel's name; absent for tickets without one.
    pub key: Option<String>,
    /// Surveys answered.
    pub responses: i64,
    /// Surveys sent.
    pub surveyed: i64,
    /// The mean rating, 1 to 5.
    pub average: Option<f64>,
    /// How many answered 1, 2, 3, 4 and 5.
    pub distribution: [i64; 5],
}

impl crate::gateway::Gateway {
    /// Satisfaction per agent, team or channel, of surveys sent since `since`.
    pub async fn csat_report(
        &self,
        by: CsatGrouping,
        since: crate::model::Timestamp,
        scope: &crate::access::Scope,
    ) -> Result<Vec<CsatGroup>, crate::StoreError> {
        let scope = scope.clone();
        let column = match by {
            CsatGrouping::Agent => "assignee",
            CsatGrouping::Team => "team",
            CsatGrouping::Channel => "channel",
        };
        self.store()
            .read(move |conn| {
                let mut values = vec![crate::store::Value::from(since.0)];
                let in_scope = scope.clause(&mut values);
                let sql = format!(
                    "SELECT t.{column}, COUNT(*), COUNT(t.csat_rating),
                         CAST(SUM(CASE WHEN t.csat_rating = 1 THEN 1 ELSE 0 END) AS BIGINT),
                         CAST(SUM(CASE WHEN t.csat_rating = 2 THEN 1 ELSE 0 END) AS BIGINT),
                         CAST(SUM(CASE WHEN t.csat_rating = 3 THEN 1 ELSE 0 END) AS BIGINT),
                         CAST(SUM(CASE WHEN t.csat_rating = 4 THEN 1 ELSE 0 END) AS BIGINT),
                         CAST(SUM(CASE WHEN t.csat_rating = 5 THEN 1 ELSE 0 END) AS BIGINT)
                     FROM tickets t WHERE t.csat_requested_at >= $1 AND {in_scope}
                     GROUP BY t.{column} ORDER BY t.{column}"
                );
                conn.query(&sql, &values)?
                    .iter()
                    .map(|row| {
                        let mut distribution = [0; 5];
                        for (i, slot) in distribution.iter_mut().enumerate() {
                            *slot = row.i64(3 + i)?;
                        }
                        let responses = row.i64(2)?;
                        let total: i64 = distribution
                            .iter()
                            .enumerate()
                            .map(|(i, n)| (i as i64 + 1) * n)
                            .sum();
                        Ok(CsatGroup {
                            key: row.opt_string(0)?,
                            surveyed: row.i64(1)?,
                            responses,
                            average: (responses > 0).then(|| total as f64 / responses as f64),
                            distribution,
                        })
                    })
                    .collect()
            })
            .await
    }

    /// Records a rating given by the survey's link (email); the ticket's reference,
    /// or `None` when the token is unknown. A second answer changes nothing.
    pub async fn rate_by_link(
        &self,
        token: &str,
        rating: u8,
    ) -> Result<Option<(String, bool)>, crate::StoreError> {
        if !(1..=5).contains(&rating)
            || token.len() != 24
            || !token.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Ok(None);
        }
        let (token, now) = (token.to_owned(), self.now());
        let (answer, recorded) = self
            .store()
            .write(move |conn| {
                use crate::store::queries::{audit, events as event_log, tickets};
                let Some(row) = conn.query_one(
                    "SELECT id, csat_rating FROM tickets WHERE csat_token = $1",
                    crate::store::params![token.as_str()],
                )?
                else {
                    return Ok((None, Vec::new()));
                };
                let ticket = tickets::get(conn, row.i64(0)?)?;
                if row.opt_i64(1)?.is_some() {
                    return Ok((Some((ticket.reference, false)), Vec::new()));
                }
                conn.execute(
                    "UPDATE tickets SET csat_rating = $1, csat_at = $2 WHERE id = $3",
                    crate::store::params![i64::from(rating), now.0, ticket.id],
                )?;
                audit::append(
                    conn,
                    now,
                    audit::By::gateway("customer"),
                    "ticket.csat",
                    Some(ticket.id),
                    &serde_json::json!({ "rating": rating, "channel": "link" }),
                )?;
                let event = crate::events::Event::TicketUpdated {
                    ticket_id: ticket.id,
                    reference: ticket.reference.clone(),
                    status: ticket.status,
                };
                let recorded = event_log::append(conn, vec![event], now)?;
                Ok((Some((ticket.reference, true)), recorded))
            })
            .await?;
        self.events().publish(recorded);
        Ok(answer)
    }
}
