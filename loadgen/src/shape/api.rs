//! The generic api channel: a JSON body signed with HMAC-SHA256 of the channel secret,
//! acknowledged with `{"message_id": .., "duplicate": ..}`. External ids are
//! `lg-{run id}-{n}`, so a run's messages share a prefix.

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::json;
use sha2::Sha256;

use super::{Answer, Claim, Request, Run, Selection, Shape};

/// The signature header of the api channel.
pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";

pub struct Api {
    /// Keyed once; each request signs with a clone.
    mac: Hmac<Sha256>,
    run_id: String,
    customers: u64,
}

impl Api {
    pub fn new(run: Run<'_>) -> Api {
        Api {
            mac: keyed_mac(run.secret),
            run_id: run.id.to_owned(),
            customers: run.customers,
        }
    }
}

impl Shape for Api {
    fn request(&self, n: u64) -> Request {
        let body = body(&self.run_id, n, self.customers);
        let signature = sign(&self.mac, &body);
        Request {
            body,
            auth_header: SIGNATURE_HEADER,
            auth_value: HeaderValue::try_from(signature).expect("hex is a valid header value"),
        }
    }

    fn answer(&self, status: StatusCode, body: &[u8]) -> Answer {
        if status != StatusCode::OK {
            return Answer::http_failure(status, body);
        }
        match parse_ack(body) {
            Some(duplicate) => Answer::Stored {
                duplicate: Some(duplicate),
            },
            None => Answer::Failed {
                kind: "HTTP 200 without an acknowledgement".into(),
                sample: String::from_utf8_lossy(body).into_owned(),
            },
        }
    }

    fn external_id(&self, n: u64) -> String {
        external_id(&self.run_id, n)
    }

    fn claim(&self, external_id: &str) -> Claim {
        // Everything the prefix selects is the run's: an id that does not parse is one
        // the run never sent.
        match external_id
            .strip_prefix(&external_id_prefix(&self.run_id))
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(n) => Claim::Message(n),
            None => Claim::Unknown,
        }
    }

    fn selection(&self) -> Selection {
        Selection::Prefix(external_id_prefix(&self.run_id))
    }

    fn flags_duplicates(&self) -> bool {
        true
    }
}

/// HMAC-SHA256 accepts keys of any length, so this cannot fail.
pub(super) fn keyed_mac(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length")
}

/// The signature header value for `body`: `sha256=<lowercase hex>`.
pub(super) fn sign(mac: &Hmac<Sha256>, body: &[u8]) -> String {
    let mut mac = mac.clone();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What the external ids of a run start with.
fn external_id_prefix(run_id: &str) -> String {
    format!("lg-{run_id}-")
}

/// The external id of message `n` of a run.
fn external_id(run_id: &str, n: u64) -> String {
    format!("{}{n}", external_id_prefix(run_id))
}

/// The webhook body of message `n`.
fn body(run_id: &str, n: u64, customers: u64) -> Vec<u8> {
    let k = n % customers;
    json!({
        "external_id": external_id(run_id, n),
        "sender": {"id": format!("customer-{k}"), "name": format!("Load Customer {k}")},
        "conversation": format!("conv-{k}"),
        "text": format!("message {n} of load run {run_id}"),
    })
    .to_string()
    .into_bytes()
}

/// The `duplicate` flag of an acknowledgement, if `bytes` is one: a JSON object with
/// a numeric `message_id` and a boolean `duplicate`.
fn parse_ack(bytes: &[u8]) -> Option<bool> {
    let ack: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    ack.get("message_id")?.as_i64()?;
    ack.get("duplicate")?.as_bool()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Api {
        Api::new(Run {
            secret: "secret",
            id: "ab12",
            customers: 1000,
            started_unix: 1_700_000_000,
            phone_number_id: None,
        })
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_raw_body() {
        assert_eq!(
            sign(&keyed_mac("secret"), b"test"),
            "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
        let request = shape().request(7);
        assert_eq!(request.auth_header, SIGNATURE_HEADER);
        assert_eq!(
            request.auth_value,
            sign(&keyed_mac("secret"), &request.body).as_str()
        );
    }

    #[test]
    fn body_follows_the_contract_and_is_stable_for_resends() {
        let bytes = body("ab12", 1234, 1000);
        assert_eq!(bytes, body("ab12", 1234, 1000));
        assert_eq!(shape().request(1234).body, bytes);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["external_id"], "lg-ab12-1234");
        assert_eq!(value["sender"]["id"], "customer-234");
        assert_eq!(value["sender"]["name"], "Load Customer 234");
        assert_eq!(value["conversation"], "conv-234");
        assert!(value["text"].as_str().unwrap().starts_with("message 1234 "));
    }

    #[test]
    fn acknowledgements_need_a_message_id_and_a_duplicate_flag() {
        let ack =
            br#"{"message_id":1,"ticket_id":1,"ticket_reference":"SB-7K3M9Q","duplicate":false}"#;
        assert_eq!(parse_ack(ack), Some(false));
        assert_eq!(
            parse_ack(br#"{"message_id":7,"duplicate":true}"#),
            Some(true)
        );
        assert_eq!(parse_ack(br#"{"duplicate":true}"#), None);
        assert_eq!(parse_ack(b"OK"), None);

        let shape = shape();
        assert_eq!(
            shape.answer(StatusCode::OK, ack),
            Answer::Stored {
                duplicate: Some(false)
            }
        );
        // Unlike Telegram's, an empty 200 is not an acknowledgement here.
        assert_eq!(
            shape.answer(StatusCode::OK, b""),
            Answer::Failed {
                kind: "HTTP 200 without an acknowledgement".into(),
                sample: String::new()
            }
        );
        assert_eq!(
            shape.answer(StatusCode::ACCEPTED, ack),
            Answer::Failed {
                kind: "HTTP 202".into(),
                sample: String::from_utf8_lossy(ack).into_owned()
            }
        );
    }

    #[test]
    fn the_run_prefix_selects_and_numbers_the_messages() {
        let shape = shape();
        assert_eq!(shape.selection(), Selection::Prefix("lg-ab12-".into()));
        assert_eq!(shape.external_id(42), "lg-ab12-42");
        assert_eq!(shape.claim("lg-ab12-42"), Claim::Message(42));
        assert_eq!(shape.claim("lg-ab12-x"), Claim::Unknown);
    }
}
