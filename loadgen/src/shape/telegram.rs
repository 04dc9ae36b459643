//! A Telegram bot's webhook, as Telegram calls it: each request is one Bot API Update
//! holding a text message from a private chat, with the webhook's secret token in
//! `X-Telegram-Bot-Api-Secret-Token`. The gateway acknowledges with any 2xx (Telegram
//! ignores the body, so it carries no duplicate flag) and stores the message as
//! `{chat id}:{message id}`.
//!
//! Ids come from the run id. Customer `k` is user (and private chat) `first_chat + k`,
//! where `first_chat` is a point of [`CHAT_FLOOR`, 2^52) picked by the run id:
//! Telegram ids have at most 52 significant bits, and from 10^15 up every chat id has
//! 16 digits, so the run's external ids are one contiguous range of text that the
//! store check reads through the `(channel, external_id)` index. Message `n` has
//! message id `n` and update id `first_update + n`; a resend is the same update.

use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Answer, Claim, Request, Run, Selection, Shape};

/// The header Telegram sends the webhook's `secret_token` in.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// The lowest chat id a run uses: every id from here to [`CHAT_CEILING`] has 16 digits.
const CHAT_FLOOR: u64 = 1_000_000_000_000_000;
/// Telegram's user and chat ids fit in 52 bits.
const CHAT_CEILING: u64 = 1 << 52;
/// Message and update ids stay positive 32-bit integers, as Telegram's are.
const LAST_MESSAGE: u64 = 1 << 30;

/// Names and usernames of the customers, cycled over; some are not ASCII.
pub(super) const PEOPLE: [(&str, &str); 8] = [
    ("Anna", "anna"),
    ("José", "jose"),
    ("Mei", "mei"),
    ("Oluwaseun", "seun"),
    ("Lukas", "lukas"),
    ("Priya", "priya"),
    ("Zoë", "zoe"),
    ("Mateo", "mateo"),
];

pub struct Telegram {
    secret: HeaderValue,
    ids: Ids,
    /// The `date` of every message: the run's start, so resends stay identical.
    date: i64,
}

impl Telegram {
    pub fn new(run: Run<'_>) -> Result<Telegram, String> {
        Ok(Telegram {
            secret: secret_token(run.secret)?,
            ids: Ids::for_run(run.id, run.customers)?,
            date: run.started_unix,
        })
    }

    /// The Update that carries message `n`.
    fn body(&self, n: u64) -> Vec<u8> {
        let chat = self.ids.chat(n);
        let (first_name, stem) = PEOPLE[(n % self.ids.customers % PEOPLE.len() as u64) as usize];
        let username = format!("{stem}_{}", n % self.ids.customers);
        json!({
            "update_id": self.ids.update(n),
            "message": {
                "message_id": n,
                "date": self.date,
                "chat": {
                    "id": chat,
                    "type": "private",
                    "first_name": first_name,
                    "username": username,
                },
                "from": {
                    "id": chat,
                    "is_bot": false,
                    "first_name": first_name,
                    "username": username,
                    "language_code": "en",
                },
                "text": question(n),
            },
        })
        .to_string()
        .into_bytes()
    }
}

impl Shape for Telegram {
    fn request(&self, n: u64) -> Request {
        Request {
            body: self.body(n),
            auth_header: SECRET_HEADER,
            auth_value: self.secret.clone(),
        }
    }

    fn answer(&self, status: StatusCode, body: &[u8]) -> Answer {
        if status.is_success() {
            Answer::Stored { duplicate: None }
        } else if status == StatusCode::UNAUTHORIZED {
            Answer::Failed {
                kind: "HTTP 401 (wrong secret)".into(),
                sample: String::from_utf8_lossy(body).into_owned(),
            }
        } else {
            Answer::http_failure(status, body)
        }
    }

    fn external_id(&self, n: u64) -> String {
        format!("{}:{n}", self.ids.chat(n))
    }

    fn claim(&self, external_id: &str) -> Claim {
        let chat = external_id
            .split_once(':')
            .and_then(|(chat, _)| chat.parse::<u64>().ok());
        match chat {
            Some(chat) if self.ids.has_chat(chat) => {}
            _ => return Claim::Foreign,
        }
        // One of this run's chats: the message id must be one the run sent there.
        match external_id.split_once(':').map(|(_, n)| n.parse::<u64>()) {
            Some(Ok(n)) if n >= 1 && self.external_id(n) == external_id => Claim::Message(n),
            _ => Claim::Unknown,
        }
    }

    fn selection(&self) -> Selection {
        // Every id of the run is `{16 digits}:{digits}` with the digits in
        // [first_chat, first_chat + customers), so it sorts between these two bounds
        // whether the collation orders ':' after the digits (SQLite, C) or skips it
        // (some PostgreSQL locales). Ids from outside that fall in between are
        // another run's or a real customer's: `claim` leaves them out.
        Selection::Range {
            from: self.ids.first_chat.to_string(),
            to: (self.ids.first_chat + self.ids.customers).to_string(),
        }
    }

    fn last_message(&self) -> u64 {
        LAST_MESSAGE
    }

    fn flags_duplicates(&self) -> bool {
        false
    }

    fn ids(&self) -> Option<String> {
        Some(format!(
            "chat ids {}..={}, update ids from {}",
            self.ids.first_chat,
            self.ids.first_chat + self.ids.customers - 1,
            self.ids.update(1)
        ))
    }
}

/// The secret as Telegram would send it: `setWebhook` takes 1-256 characters of
/// `A-Za-z0-9_-`, so anything else could never come from Telegram.
fn secret_token(secret: &str) -> Result<HeaderValue, String> {
    let valid = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(
            "a Telegram webhook secret is 1 to 256 characters of A-Z, a-z, 0-9, _ and -".into(),
        );
    }
    HeaderValue::from_str(secret).map_err(|e| e.to_string())
}

/// The ids of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ids {
    first_chat: u64,
    customers: u64,
    /// Below 2^30, so that with `n` up to 2^30 update ids stay below 2^31.
    first_update: u32,
}

impl Ids {
    /// Picks the run's ids from a hash of its id: the same run id gives the same ids,
    /// and two runs share a chat only with odds of about customers / 2^51.
    fn for_run(run_id: &str, customers: u64) -> Result<Ids, String> {
        let room = CHAT_CEILING - CHAT_FLOOR;
        if customers == 0 || customers > room {
            return Err(format!(
                "Telegram mode takes 1 to {room} customers: chat ids must stay below 2^52"
            ));
        }
        let hash = Sha256::digest(run_id.as_bytes());
        let word = |i: usize| u64::from_be_bytes(hash[i..i + 8].try_into().expect("8 bytes"));
        Ok(Ids {
            first_chat: CHAT_FLOOR + word(0) % (room - customers + 1),
            customers,
            first_update: (word(8) >> 34) as u32,
        })
    }

    fn chat(&self, n: u64) -> u64 {
        self.first_chat + n % self.customers
    }

    fn has_chat(&self, chat: u64) -> bool {
        (self.first_chat..self.first_chat + self.customers).contains(&chat)
    }

    fn update(&self, n: u64) -> u64 {
        u64::from(self.first_update) + n
    }
}

/// The text of message `n`: a customer's question, a little different each time.
pub(super) fn question(n: u64) -> String {
    let order = 100_000 + n * 7_919 % 900_000;
    match n % 8 {
        0 => format!(
            "Hi! My order #{order} still hasn't arrived, it's been over a week. Can you check where it is?"
        ),
        1 => format!(
            "Hello, I was charged twice for order #{order}. How do I get the second payment refunded?"
        ),
        2 => {
            "I can't log in: the password reset link says it has expired. Could you send a new one?"
                .to_owned()
        }
        3 => "Do you ship to Portugal? And how long does delivery usually take?".to_owned(),
        4 => format!(
            "The app closes every time I open Settings (version 4.{}). Is this a known problem?",
            n % 13
        ),
        5 => format!(
            "Can I still change the delivery address for order #{order}? I moved last week."
        ),
        6 => "How do I cancel my subscription? I can't find the option anywhere 😕".to_owned(),
        _ => format!("The parcel for order #{order} arrived damaged. What should I do now?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, customers: u64) -> Run<'_> {
        Run {
            secret: "bench-secret",
            id,
            customers,
            started_unix: 1_700_000_000,
            phone_number_id: None,
        }
    }

    fn shape(id: &str, customers: u64) -> Telegram {
        Telegram::new(run(id, customers)).unwrap()
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn body_is_an_update_with_a_private_text_message() {
        let shape = shape("ab12", 1000);
        let chat = shape.ids.first_chat + 234;
        let request = shape.request(1234);
        assert_eq!(request.auth_header, "X-Telegram-Bot-Api-Secret-Token");
        assert_eq!(request.auth_value, "bench-secret");
        let update = json(&request.body);
        assert_eq!(update["update_id"], shape.ids.update(1234));
        let message = &update["message"];
        assert_eq!(message["message_id"], 1234);
        assert_eq!(message["date"], 1_700_000_000);
        assert_eq!(message["chat"]["id"], chat);
        assert_eq!(message["chat"]["type"], "private");
        assert_eq!(message["from"]["id"], chat);
        assert_eq!(message["from"]["is_bot"], false);
        assert_eq!(message["from"]["language_code"], "en");
        for who in [&message["chat"], &message["from"]] {
            assert_eq!(who["first_name"], "Mei");
            assert_eq!(who["username"], "mei_234");
        }
        assert!(message["text"].as_str().unwrap().contains("?"));
        // Exactly the fields of an Update with one message, nothing of the api body.
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&update), ["message", "update_id"]);
        assert_eq!(
            keys(message),
            ["chat", "date", "from", "message_id", "text"]
        );
    }

    #[test]
    fn resends_are_the_same_update_and_new_messages_are_not() {
        let shape = shape("ab12", 1000);
        assert_eq!(shape.request(7).body, shape.request(7).body);
        let updates: Vec<_> = (1..=2000).map(|n| json(&shape.request(n).body)).collect();
        let update_ids: std::collections::HashSet<u64> = updates
            .iter()
            .map(|u| u["update_id"].as_u64().unwrap())
            .collect();
        assert_eq!(update_ids.len(), 2000, "update ids repeat");
        let texts: std::collections::HashSet<_> = updates
            .iter()
            .map(|u| u["message"]["text"].clone())
            .collect();
        assert!(texts.len() > 100, "only {} different texts", texts.len());
        // Customers cycle: message 1 and message 1001 come from the same chat.
        assert_eq!(
            updates[0]["message"]["chat"],
            updates[1000]["message"]["chat"]
        );
        assert_ne!(
            updates[0]["message"]["chat"]["id"],
            updates[1]["message"]["chat"]["id"]
        );
    }

    #[test]
    fn external_id_is_chat_colon_message_and_claims_only_the_run() {
        let shape = shape("ab12", 1000);
        let first = shape.ids.first_chat;
        assert_eq!(shape.external_id(1234), format!("{}:1234", first + 234));
        assert_eq!(shape.external_id(1000), format!("{first}:1000"));
        assert_eq!(
            shape.claim(&format!("{}:1234", first + 234)),
            Claim::Message(1234)
        );
        // This run's chat, but not where message 1234 went, or no message at all.
        assert_eq!(
            shape.claim(&format!("{}:1234", first + 235)),
            Claim::Unknown
        );
        assert_eq!(shape.claim(&format!("{first}:x")), Claim::Unknown);
        assert_eq!(shape.claim(&format!("{first}:0")), Claim::Unknown);
        // Neighbouring chats, other formats: not this run's.
        assert_eq!(shape.claim(&format!("{}:1", first - 1)), Claim::Foreign);
        assert_eq!(shape.claim(&format!("{}:1", first + 1000)), Claim::Foreign);
        assert_eq!(shape.claim(&format!("-{first}:1")), Claim::Foreign);
        assert_eq!(shape.claim("lg-ab12-1"), Claim::Foreign);
    }

    #[test]
    fn each_run_has_its_own_sixteen_digit_chat_range() {
        let a = shape("0123456789abcdef", 1000);
        assert_eq!(a.ids, shape("0123456789abcdef", 1000).ids);
        let b = shape("0123456789abcdee", 1000);
        assert!(
            a.ids.first_chat + 1000 <= b.ids.first_chat
                || b.ids.first_chat + 1000 <= a.ids.first_chat,
            "{:?} and {:?} overlap",
            a.ids,
            b.ids
        );
        assert_ne!(a.ids.first_update, b.ids.first_update);
        for id in (0..200).map(|i| format!("run{i}")) {
            for customers in [1, 1000, CHAT_CEILING - CHAT_FLOOR] {
                let ids = Ids::for_run(&id, customers).unwrap();
                assert!(ids.first_chat >= CHAT_FLOOR, "{ids:?}");
                assert!(ids.first_chat + customers <= CHAT_CEILING, "{ids:?}");
                assert!(ids.update(LAST_MESSAGE) < 1 << 31, "{ids:?}");
            }
        }
        assert!(Ids::for_run("r", CHAT_CEILING - CHAT_FLOOR + 1).is_err());
        let last = shape("ab12", 1000).ids.first_chat + 999;
        assert_eq!(last.to_string().len(), 16);
        assert_eq!(CHAT_FLOOR.to_string().len(), 16);
        assert_eq!((CHAT_CEILING - 1).to_string().len(), 16);
    }

    #[test]
    fn the_selection_bounds_every_id_of_the_run_and_no_neighbour() {
        let shape = shape("ab12", 1000);
        let Selection::Range { from, to } = shape.selection() else {
            panic!("not a range");
        };
        let inside = |id: &str| from.as_str() <= id && id < to.as_str();
        for n in [1, 999, 1000, 1001, 123_456, LAST_MESSAGE] {
            assert!(inside(&shape.external_id(n)), "{n}");
        }
        let first = shape.ids.first_chat;
        assert!(!inside(&format!("{}:5", first - 1)));
        assert!(!inside(&format!("{}:5", first + 1000)));
    }

    #[test]
    fn any_2xx_acknowledges_and_401_names_the_secret() {
        let shape = shape("ab12", 10);
        for status in [StatusCode::OK, StatusCode::ACCEPTED, StatusCode::NO_CONTENT] {
            assert_eq!(
                shape.answer(status, b""),
                Answer::Stored { duplicate: None },
                "{status}"
            );
        }
        assert_eq!(
            shape.answer(StatusCode::UNAUTHORIZED, b""),
            Answer::Failed {
                kind: "HTTP 401 (wrong secret)".into(),
                sample: String::new()
            }
        );
        assert_eq!(
            shape.answer(StatusCode::SERVICE_UNAVAILABLE, b"busy"),
            Answer::Failed {
                kind: "HTTP 503".into(),
                sample: "busy".into()
            }
        );
        assert_eq!(
            shape.answer(StatusCode::BAD_REQUEST, b""),
            Answer::Failed {
                kind: "HTTP 400".into(),
                sample: String::new()
            }
        );
    }

    #[test]
    fn secrets_are_what_set_webhook_accepts() {
        assert!(secret_token("bench-secret_2").is_ok());
        assert!(secret_token(&"a".repeat(256)).is_ok());
        for bad in ["", "with space", "naïve", "a:b"] {
            assert!(secret_token(bad).is_err(), "{bad:?}");
        }
        assert!(secret_token(&"a".repeat(257)).is_err());
    }
}
