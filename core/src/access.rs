//! Who may see which tickets. Every store query an agent's request runs takes a
//! [`Scope`] and adds its condition to the SQL, so a ticket outside it (and its
//! messages, files, contact and events) is not found, whatever a handler does next.

use crate::store::Value;

/// The tickets a reader may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every ticket: admins, auditors, and the gateway itself.
    #[default]
    All,
    /// The tickets of these teams and those assigned to `agent`. With no team, the
    /// tickets no team holds (the general queue) and those assigned to `agent`.
    Teams { agent: String, teams: Vec<String> },
}

impl Scope {
    /// The condition on `tickets t` that keeps the tickets in scope (`None`: every
    /// ticket), its values appended to `values` as `$n` parameters.
    pub fn condition(&self, values: &mut Vec<Value>) -> Option<String> {
        let Scope::Teams { agent, teams } = self else {
            return None;
        };
        let mut bind = |value: &str| {
            values.push(value.into());
            format!("${}", values.len())
        };
        let team = if teams.is_empty() {
            "t.team IS NULL".to_owned()
        } else {
            let list: Vec<String> = teams.iter().map(|t| bind(t)).collect();
            format!("t.team IN ({})", list.join(", "))
        };
        Some(format!("({team} OR t.assignee = {})", bind(agent)))
    }

    /// The condition as a whole `WHERE` term: `TRUE` for every ticket.
    pub fn clause(&self, values: &mut Vec<Value>) -> String {
        self.condition(values).unwrap_or_else(|| "1 = 1".into())
    }

    /// Whether a ticket of this team and assignee is in scope (the same rule as
    /// [`Scope::condition`], for rows already in memory).
    pub fn allows(&self, team: Option<&str>, assignee: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams { agent, teams } => {
                assignee == Some(agent.as_str())
                    || match team {
                        None => teams.is_empty(),
                        Some(team) => teams.iter().any(|t| t == team),
                    }
            }
        }
    }
}

/// Who acts on a ticket: the name written as the author of a reply and as the actor
/// in the audit log, where the request came from, and the tickets they may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    /// The client's address, for the audit log.
    pub origin: Option<String>,
    pub scope: Scope,
}

impl Actor {
    /// An actor who may act on every ticket: the gateway's own tools and tests.
    pub fn unrestricted(name: &str) -> Actor {
        Actor {
            name: name.to_owned(),
            origin: None,
            scope: Scope::All,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn a_team_member_sees_the_team_and_what_is_assigned_to_them() {
        let lena = Scope::Teams {
            agent: "Lena".into(),
            teams: vec!["payments".into(), "kyc".into()],
        };
        assert!(lena.allows(Some("payments"), None));
        assert!(lena.allows(Some("kyc"), Some("Omar")));
        assert!(lena.allows(Some("sales"), Some("Lena")));
        assert!(!lena.allows(Some("sales"), Some("Omar")));
        assert!(!lena.allows(None, None));
        let mut values = Vec::new();
        assert_eq!(
            lena.condition(&mut values).as_deref(),
            Some("(t.team IN ($1, $2) OR t.assignee = $3)")
        );
        assert_eq!(values.len(), 3);
    }

    #[test]
    fn without_a_team_the_general_queue() {
        let omar = Scope::Teams {
            agent: "Omar".into(),
            teams: Vec::new(),
        };
        assert!(omar.allows(None, None));
        assert!(!omar.allows(Some("payments"), None));
        assert!(omar.allows(Some("payments"), Some("Omar")));
        let mut values = vec![1.into()];
        assert_eq!(
            omar.condition(&mut values).as_deref(),
            Some("(t.team IS NULL OR t.assignee = $2)")
        );
        assert!(Scope::All.allows(Some("x"), None));
        assert_eq!(Scope::All.condition(&mut values), None);
    }
}
