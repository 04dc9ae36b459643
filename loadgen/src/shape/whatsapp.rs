//! A WhatsApp channel's webhook, as Meta's Cloud API calls it: each request is one
//! notification (`object: whatsapp_business_account`) holding one customer's text
//! message, addressed to the channel's `phone_number_id`, signed with the app secret in
//! `X-Hub-Signature-256` over the exact bytes, and written as Meta writes it (`/` and
//! everything outside ASCII as escapes). The gateway acknowledges with 200 and an empty
//! body once the message is committed (no duplicate flag), and stores it under its
//! `id`, the wamid.
//!
//! Message `n` has wamid `wamid.lg-{run id}-{n}`, so a run's messages share a prefix.
//! Customer `k` is the US number `+1 202-200-0000` plus `k`: real-looking numbers of
//! area code 202 with an exchange from 200 to 999 (the gateway itself keeps any
//! well-formed E.164 number).

use std::fmt::Write as _;

use hmac::Hmac;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::json;
use sha2::Sha256;

use super::api::{keyed_mac, sign};
use super::telegram::{PEOPLE, question};
use super::{Answer, Claim, Request, Run, Selection, Shape};

/// The header Meta signs notifications in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// Customer 0's `wa_id`: +1 202-200-0000.
const FIRST_CUSTOMER: u64 = 12_022_000_000;
/// One past the last number of area code 202 (exchanges 200 to 999).
const CUSTOMER_CEILING: u64 = 12_030_000_000;
/// The WhatsApp Business Account and display number in the envelopes: the gateway
/// reads neither, so Meta's documentation examples do.
const WABA_ID: &str = "102290129340398";
const DISPLAY_PHONE_NUMBER: &str = "15550783881";

pub struct WhatsApp {
    /// Keyed once with the app secret; each request signs with a clone.
    mac: Hmac<Sha256>,
    run_id: String,
    customers: u64,
    phone_number_id: String,
    /// The `timestamp` of every message: the run's start, so resends stay identical.
    timestamp: String,
}

impl WhatsApp {
    pub fn new(run: Run<'_>) -> Result<WhatsApp, String> {
        let phone_number_id = run
            .phone_number_id
            .ok_or("--kind whatsapp needs --phone-number-id, the channel's phone_number_id")?;
        if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a phone_number_id is the number's id in the WhatsApp Manager: digits, not the phone number".into());
        }
        let room = CUSTOMER_CEILING - FIRST_CUSTOMER;
        if run.customers > room {
            return Err(format!(
                "WhatsApp mode takes 1 to {room} customers: one US area code of numbers"
            ));
        }
        Ok(WhatsApp {
            mac: keyed_mac(run.secret),
            run_id: run.id.to_owned(),
            customers: run.customers,
            phone_number_id: phone_number_id.to_owned(),
            timestamp: run.started_unix.to_string(),
        })
    }

    fn prefix(&self) -> String {
        format!("wamid.lg-{}-", self.run_id)
    }

    fn wa_id(&self, n: u64) -> String {
        (FIRST_CUSTOMER + n % self.customers).to_string()
    }

    /// The notification that carries message `n`.
    fn body(&self, n: u64) -> Vec<u8> {
        let wa_id = self.wa_id(n);
        let (name, _) = PEOPLE[(n % self.customers % PEOPLE.len() as u64) as usize];
        let notification = json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": WABA_ID,
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": DISPLAY_PHONE_NUMBER,
                            "phone_number_id": self.phone_number_id,
                        },
                        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                        "messages": [{
                            "from": wa_id,
                            "id": self.external_id(n),
                            "timestamp": self.timestamp,
                            "type": "text",
                            "text": {"body": question(n)},
                        }],
                    },
                }],
            }],
        });
        meta_escaped(&notification.to_string())
    }
}

impl Shape for WhatsApp {
    fn request(&self, n: u64) -> Request {
        let body = self.body(n);
        let signature = sign(&self.mac, &body);
        Request {
            body,
            auth_header: SIGNATURE_HEADER,
            auth_value: HeaderValue::try_from(signature).expect("hex is a valid header value"),
        }
    }

    fn answer(&self, status: StatusCode, body: &[u8]) -> Answer {
        match status {
            StatusCode::OK => Answer::Stored { duplicate: None },
            StatusCode::UNAUTHORIZED => Answer::Failed {
                kind: "HTTP 401 (wrong app secret)".into(),
                sample: String::from_utf8_lossy(body).into_owned(),
            },
            _ => Answer::http_failure(status, body),
        }
    }

    fn external_id(&self, n: u64) -> String {
        format!("{}{n}", self.prefix())
    }

    fn claim(&self, external_id: &str) -> Claim {
        // Everything the prefix selects is the run's; only the ids it sent count as
        // messages (not `-007` for 7).
        match external_id
            .strip_prefix(&self.prefix())
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(n) if n >= 1 && self.external_id(n) == external_id => Claim::Message(n),
            _ => Claim::Unknown,
        }
    }

    fn selection(&self) -> Selection {
        Selection::Prefix(self.prefix())
    }

    fn flags_duplicates(&self) -> bool {
        false
    }

    fn ids(&self) -> Option<String> {
        Some(format!(
            "wa_ids {FIRST_CUSTOMER}..={}, wamids {}N",
            FIRST_CUSTOMER + self.customers - 1,
            self.prefix()
        ))
    }
}

/// JSON as Meta's webhooks write it: `/` as `\/` and everything outside ASCII as
/// `\uXXXX` escapes. Outside strings JSON has neither, so the whole text can be mapped.
fn meta_escaped(json: &str) -> Vec<u8> {
    let mut out = String::with_capacity(json.len() + json.len() / 8);
    for c in json.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(out, "\\u{unit:04x}").expect("writing to a String cannot fail");
                }
            }
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use switchboard_core::identity::Identity;

    use super::*;

    const PHONE_NUMBER_ID: &str = "106540352242922";

    fn run(customers: u64, phone_number_id: Option<&str>) -> Run<'_> {
        Run {
            secret: "bench-secret",
            id: "ab12",
            customers,
            started_unix: 1_700_000_000,
            phone_number_id,
        }
    }

    fn shape(customers: u64) -> WhatsApp {
        WhatsApp::new(run(customers, Some(PHONE_NUMBER_ID))).unwrap()
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn body_is_a_signed_notification_with_one_text_message() {
        let shape = shape(1000);
        let request = shape.request(1234);
        assert_eq!(request.auth_header, SIGNATURE_HEADER);
        assert_eq!(
            request.auth_value,
            sign(&keyed_mac("bench-secret"), &request.body).as_str()
        );
        let notification = json(&request.body);
        assert_eq!(notification["object"], "whatsapp_business_account");
        let change = &notification["entry"][0]["changes"][0];
        assert_eq!(change["field"], "messages");
        let value = &change["value"];
        assert_eq!(value["messaging_product"], "whatsapp");
        assert_eq!(value["metadata"]["phone_number_id"], PHONE_NUMBER_ID);
        assert_eq!(value["contacts"][0]["wa_id"], "12022000234");
        assert_eq!(value["contacts"][0]["profile"]["name"], "Mei");
        let message = &value["messages"][0];
        assert_eq!(message["from"], "12022000234");
        assert_eq!(message["id"], "wamid.lg-ab12-1234");
        assert_eq!(message["timestamp"], "1700000000");
        assert_eq!(message["type"], "text");
        assert_eq!(message["text"]["body"], question(1234));
        assert_eq!(value["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn bodies_are_written_as_meta_writes_them() {
        // Message 6 asks with an emoji and comes from Zoë.
        let body = shape(1000).request(6).body;
        assert!(body.is_ascii());
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains(r#""Zo\u00eb""#), "{text}");
        assert!(text.contains(r"\ud83d\ude15"), "{text}");
        assert_eq!(
            json(&body)["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"],
            "Zoë"
        );
        assert_eq!(meta_escaped(r#"{"a":"x/y"}"#), br#"{"a":"x\/y"}"#);
    }

    #[test]
    fn resends_are_the_same_notification_and_new_messages_are_not() {
        let shape = shape(1000);
        assert_eq!(shape.request(7).body, shape.request(7).body);
        let wamids: std::collections::HashSet<_> = (1..=2000)
            .map(|n| {
                json(&shape.request(n).body)["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
                    .clone()
            })
            .collect();
        assert_eq!(wamids.len(), 2000, "wamids repeat");
        // Customers cycle: message 1 and message 1001 come from the same number.
        assert_eq!(shape.wa_id(1), shape.wa_id(1001));
        assert_ne!(shape.wa_id(1), shape.wa_id(2));
    }

    #[test]
    fn every_customer_is_a_number_the_gateway_takes() {
        let most = shape(CUSTOMER_CEILING - FIRST_CUSTOMER);
        for n in (0..CUSTOMER_CEILING - FIRST_CUSTOMER).step_by(9_973) {
            let wa_id = most.wa_id(n);
            assert!(Identity::phone(&wa_id).is_ok(), "{wa_id}");
        }
        assert_eq!(most.wa_id(most.customers - 1), "12029999999");
        assert!(WhatsApp::new(run(CUSTOMER_CEILING - FIRST_CUSTOMER + 1, Some("1"))).is_err());
    }

    #[test]
    fn the_channel_needs_its_phone_number_id() {
        assert!(WhatsApp::new(run(10, None)).is_err());
        assert!(WhatsApp::new(run(10, Some(""))).is_err());
        assert!(WhatsApp::new(run(10, Some("+1 555 0100"))).is_err());
    }

    #[test]
    fn the_run_prefix_selects_and_numbers_the_messages() {
        let shape = shape(1000);
        assert_eq!(
            shape.selection(),
            Selection::Prefix("wamid.lg-ab12-".into())
        );
        assert_eq!(shape.external_id(42), "wamid.lg-ab12-42");
        assert_eq!(shape.claim("wamid.lg-ab12-42"), Claim::Message(42));
        for unknown in ["wamid.lg-ab12-x", "wamid.lg-ab12-042", "wamid.lg-ab12-0"] {
            assert_eq!(shape.claim(unknown), Claim::Unknown, "{unknown}");
        }
    }

    #[test]
    fn only_200_acknowledges_and_401_names_the_app_secret() {
        let shape = shape(10);
        assert_eq!(
            shape.answer(StatusCode::OK, b""),
            Answer::Stored { duplicate: None }
        );
        assert_eq!(
            shape.answer(StatusCode::UNAUTHORIZED, b"bad"),
            Answer::Failed {
                kind: "HTTP 401 (wrong app secret)".into(),
                sample: "bad".into()
            }
        );
        assert_eq!(
            shape.answer(StatusCode::ACCEPTED, b""),
            Answer::Failed {
                kind: "HTTP 202".into(),
                sample: String::new()
            }
        );
    }
}
