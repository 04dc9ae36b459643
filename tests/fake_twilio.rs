//! The fake Twilio answers like the real Programmable Messaging API, checked through
//! raw HTTP: Basic auth, validation codes, the Message resource, scripted failures,
//! opt-outs, segment counting, media downloads, and the signed requests it makes
//! (status callbacks, inbound webhooks) verified by small receivers here.

#![allow(dead_code)] // each test binary uses a different part of the fakes

mod fakes;

use fakes::twilio;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use twilio::{Failure, FakeTwilio, SERVICE_SENDER, inbound_sms, post_form, segments, signature};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const OTHER_ACCOUNT: &str = "ACfedcba9876543210fedcba9876543210";
const TOKEN: &str = "f00dfeedcafe0123456789abcdef0123";
const SERVICE: &str = "MG00112233445566778899aabbccddeeff";
const CUSTOMER: &str = "+14155552671";
const NUMBER: &str = "+15017122661";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn messages_url(fake: &FakeTwilio, account: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account}/Messages.json",
        fake.api_url()
    )
}

fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    let pair = |(k, v): &(&str, &str)| (k.to_string(), v.to_string());
    params.iter().map(pair).collect()
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "application/json");
    (status, response.json().await.unwrap())
}

/// An authenticated send of `params` as a form.
async fn send(fake: &FakeTwilio, params: &[(&str, &str)]) -> (u16, Value) {
    let request = http()
        .post(messages_url(fake, ACCOUNT))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(params);
    answer(request).await
}

fn error(code: u32, message: &str, status: u16) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

/// A send's form fields.
type Fields<'a> = Vec<(&'a str, &'a str)>;

fn is_sid(sid: &str, prefix: &str) -> bool {
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].chars().all(hex)
}

#[test]
fn signature_matches_the_official_test_vector() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let mut params = pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]);
    assert_eq!(
        signature("12345", url, &params),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    // The order parameters arrive in does not matter; URL, token and values do.
    params.reverse();
    assert_eq!(
        signature("12345", url, &params),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    let other_url = "https://mycompany.com/myapp.php?bar=2&foo=1";
    assert_ne!(
        signature("12345", other_url, &params),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    assert_ne!(
        signature("12346", url, &params),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    params[0].1.push('0');
    assert_ne!(
        signature("12345", url, &params),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    // Repeated names sort by value too, so their order does not matter either.
    let a = pairs(&[("MediaUrl", "https://a"), ("MediaUrl", "https://b")]);
    let b = pairs(&[("MediaUrl", "https://b"), ("MediaUrl", "https://a")]);
    assert_eq!(
        signature("t", "https://x", &a),
        signature("t", "https://x", &b)
    );
}

#[tokio::test]
async fn sends_need_basic_auth_for_the_account_in_the_path() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let form = [("To", CUSTOMER), ("From", NUMBER), ("Body", "hi")];
    let authenticate = error(20003, "Authenticate", 401);
    let requests = [
        http().post(messages_url(&fake, ACCOUNT)).form(&form),
        http()
            .post(messages_url(&fake, ACCOUNT))
            .basic_auth(ACCOUNT, Some("wrong"))
            .form(&form),
        http()
            .post(messages_url(&fake, ACCOUNT))
            .basic_auth(OTHER_ACCOUNT, Some(TOKEN))
            .form(&form),
        http()
            .post(messages_url(&fake, ACCOUNT))
            .bearer_auth(TOKEN)
            .form(&form),
        // Right credentials, another account's path.
        http()
            .post(messages_url(&fake, OTHER_ACCOUNT))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(&form),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let challenge = &response.headers()["www-authenticate"];
        assert_eq!(challenge, "Basic realm=\"Twilio API\"");
        assert_eq!(response.json::<Value>().await.unwrap(), authenticate);
    }
    assert!(fake.sent().is_empty(), "refused before auth: not recorded");
    assert_eq!(send(&fake, &form).await.0, 201);
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn accepted_sends_answer_201_with_the_message_resource() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let callback = "https://gateway.example.com/twilio/status?ticket=7";
    let first_form = [
        ("To", CUSTOMER),
        ("From", NUMBER),
        ("Body", "Your ticket #7 was updated"),
        ("StatusCallback", callback),
    ];
    let (status, message) = send(&fake, &first_form).await;
    assert_eq!(status, 201);
    let sid = message["sid"].as_str().unwrap().to_owned();
    assert!(is_sid(&sid, "SM"), "{sid}");
    let uri = format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}");
    let date = message["date_created"].as_str().unwrap();
    let rfc2822 = time::format_description::well_known::Rfc2822;
    let parsed = time::OffsetDateTime::parse(date, &rfc2822).unwrap();
    assert!(date.ends_with(" +0000"), "{date}");
    let age = time::OffsetDateTime::now_utc() - parsed;
    assert!(age.whole_seconds().abs() < 60, "{date}");
    let expected = json!({
        "account_sid": ACCOUNT,
        "api_version": "2010-04-01",
        "body": "Your ticket #7 was updated",
        "date_created": date,
        "date_sent": null,
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": NUMBER,
        "messaging_service_sid": null,
        "num_media": "0",
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": { "media": format!("{uri}/Media.json") },
        "to": CUSTOMER,
        "uri": format!("{uri}.json"),
    });
    assert_eq!(message, expected);

    // Through a Messaging Service: "accepted", no sender and no segments yet.
    let long = "x".repeat(200);
    let form = [
        ("To", CUSTOMER),
        ("MessagingServiceSid", SERVICE),
        ("Body", &long),
    ];
    let (status, message) = send(&fake, &form).await;
    assert_eq!(status, 201);
    assert_eq!(message["status"], "accepted");
    assert_eq!(message["from"], Value::Null);
    assert_eq!(message["messaging_service_sid"], SERVICE);
    assert_eq!(message["num_segments"], "0");

    // With media: an MMS, whose SID starts with MM.
    let form = [
        ("To", CUSTOMER),
        ("From", NUMBER),
        ("MediaUrl", "https://cdn.example.com/a.png"),
        ("MediaUrl", "http://cdn.example.com/b.pdf?sig=1"),
    ];
    let (status, message) = send(&fake, &form).await;
    assert_eq!(status, 201);
    let mms_sid = message["sid"].as_str().unwrap().to_owned();
    assert!(is_sid(&mms_sid, "MM"), "{mms_sid}");
    assert_eq!(
        (&message["num_media"], &message["body"]),
        (&json!("2"), &json!(""))
    );

    let sent = fake.sent();
    assert_eq!(sent.len(), 3);
    let first = &sent[0];
    assert_eq!(first.to, CUSTOMER);
    assert_eq!(first.from.as_deref(), Some(NUMBER));
    assert_eq!(first.messaging_service_sid, None);
    assert_eq!(first.body.as_deref(), Some("Your ticket #7 was updated"));
    assert_eq!(first.status_callback.as_deref(), Some(callback));
    assert_eq!(first.sid.as_deref(), Some(sid.as_str()));
    assert_eq!((first.error_code, first.num_segments), (None, 1));
    assert_eq!(first.params, pairs(&first_form));
    assert_eq!(sent[1].messaging_service_sid.as_deref(), Some(SERVICE));
    assert_eq!(sent[1].num_segments, 2, "Sent counts segments all the same");
    let media = [
        "https://cdn.example.com/a.png",
        "http://cdn.example.com/b.pdf?sig=1",
    ];
    assert_eq!(sent[2].media_urls, media);
    assert_eq!(sent[2].sid.as_deref(), Some(mms_sid.as_str()));
    assert_ne!(sid, sent[1].sid.clone().unwrap());
}

#[tokio::test]
async fn invalid_sends_get_twilio_error_codes() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let long = "a".repeat(1601);
    let longest = "é".repeat(1600);
    let long_callback = format!("https://example.com/{}", "a".repeat(4000));
    let to = ("To", CUSTOMER);
    let from = ("From", NUMBER);
    let body = ("Body", "hello");
    let to_required = (21604, "A 'To' phone number is required.");
    let from_required = (21603, "A 'From' phone number is required.");
    let body_required = (21602, "Message body is required.");
    let too_long = (
        21617,
        "The concatenated message body exceeds the 1600 character limit.",
    );
    let bad_callback = (21609, "Invalid StatusCallback");
    let media = |url| ("MediaUrl", url);
    let cases: Vec<(Fields, (u32, &str))> = vec![
        (vec![from, body], to_required),
        (vec![("To", ""), from, body], to_required),
        (
            vec![("To", "4155552671"), from, body],
            (21211, "Invalid 'To' Phone Number: 4155552671"),
        ),
        (
            vec![("To", "+1415555"), from, body],
            (21211, "Invalid 'To' Phone Number: +1415555"),
        ),
        (
            vec![("To", "+1234567890123456"), from, body],
            (21211, "Invalid 'To' Phone Number: +1234567890123456"),
        ),
        (
            vec![("To", "+1 415 555 2671"), from, body],
            (21211, "Invalid 'To' Phone Number: +1 415 555 2671"),
        ),
        (
            vec![("To", "+04155552671"), from, body],
            (21211, "Invalid 'To' Phone Number: +04155552671"),
        ),
        (vec![to, body], from_required),
        (vec![to, ("From", ""), body], from_required),
        (
            vec![to, ("From", "not a number!"), body],
            (
                21212,
                "The 'From' number not a number! is not a valid phone number, shortcode, or alphanumeric sender ID.",
            ),
        ),
        (
            vec![to, ("MessagingServiceSid", "MG123"), body],
            (21705, "The Messaging Service Sid MG123 is invalid."),
        ),
        (
            vec![
                to,
                ("MessagingServiceSid", "PN00112233445566778899aabbccddeeff"),
                body,
            ],
            (
                21705,
                "The Messaging Service Sid PN00112233445566778899aabbccddeeff is invalid.",
            ),
        ),
        (vec![to, from], body_required),
        (vec![to, from, ("Body", "")], body_required),
        (
            vec![to, ("MessagingServiceSid", SERVICE)],
            (
                21619,
                "A text message body or media urls must be specified.",
            ),
        ),
        (vec![to, from, ("Body", &long)], too_long),
        (
            vec![to, from, media("ftp://example.com/a.png")],
            (
                21620,
                "Media urls: ftp://example.com/a.png are invalid. Please use only valid http and https urls",
            ),
        ),
        (
            vec![to, from, body, media("/relative.png")],
            (
                21620,
                "Media urls: /relative.png are invalid. Please use only valid http and https urls",
            ),
        ),
        (
            vec![to, from, body, ("StatusCallback", "/status")],
            bad_callback,
        ),
        (
            vec![to, from, body, ("StatusCallback", "mailto:a@example.com")],
            bad_callback,
        ),
        (
            vec![
                to,
                from,
                body,
                ("StatusCallback", "https://bad_host.example.com/s"),
            ],
            bad_callback,
        ),
        (
            vec![
                to,
                from,
                body,
                ("StatusCallback", "http://example.com:port/s"),
            ],
            bad_callback,
        ),
        (
            vec![to, from, body, ("StatusCallback", &long_callback)],
            bad_callback,
        ),
    ];
    for (form, (code, message)) in &cases {
        let answer = send(&fake, form).await;
        assert_eq!(answer, (400, error(*code, message, 400)), "{form:?}");
    }
    let eleven: Vec<(&str, &str)> = [to, from]
        .into_iter()
        .chain(std::iter::repeat_n(media("https://example.com/a.png"), 11))
        .collect();
    let refused = error(21623, "Too many media urls. Limit is 10", 400);
    assert_eq!(send(&fake, &eleven).await, (400, refused));

    // Twilio reads form bodies only: a JSON body has no parameters.
    let json_body = json!({"To": CUSTOMER, "From": NUMBER, "Body": "hello"});
    let request = http()
        .post(messages_url(&fake, ACCOUNT))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .json(&json_body);
    let (code, message) = to_required;
    assert_eq!(answer(request).await, (400, error(code, message, 400)));

    let sent = fake.sent();
    assert_eq!(sent.len(), cases.len() + 2, "refused sends are recorded");
    for (sent, (form, (code, _))) in sent.iter().zip(&cases) {
        assert_eq!(sent.error_code, Some(*code), "{form:?}");
        assert_eq!(sent.sid, None);
    }
    assert_eq!(sent.last().unwrap().params, []);
    assert_eq!(sent.last().unwrap().to, "");

    // What is accepted at the edges: 1600 characters (not bytes), short codes,
    // alphanumeric sender IDs, both From and a service, an http callback with a port.
    let accepted: Vec<Fields> = vec![
        vec![to, from, ("Body", &longest)],
        vec![to, ("From", "12345"), body],
        vec![to, ("From", "Switchboard"), body],
        vec![to, from, ("MessagingServiceSid", SERVICE), body],
        vec![
            ("To", "+447911123456"),
            from,
            body,
            ("StatusCallback", "http://127.0.0.1:8080/s?a=1"),
        ],
        vec![
            to,
            from,
            body,
            ("StatusCallback", "https://[::1]:8443/status"),
        ],
        vec![to, from, body, ("Unknown", "ignored, as Twilio does")],
    ];
    for form in &accepted {
        assert_eq!(send(&fake, form).await.0, 201, "{form:?}");
    }
}

#[tokio::test]
async fn scripted_failures_come_after_auth_and_before_validation() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    fake.fail_next(Failure::TooManyRequests);
    fake.fail_next(Failure::ServerError);
    fake.fail_next(Failure::ServiceUnavailable);
    fake.fail_next(Failure::invalid_to());
    fake.fail_next(Failure::unsubscribed());
    fake.fail_next(Failure::authenticate());
    fake.fail_next(Failure::Code {
        code: 30007,
        http_status: 400,
        message: "Message filtered".into(),
    });
    // A request that fails authentication does not take a scripted answer.
    let unauthenticated = http()
        .post(messages_url(&fake, ACCOUNT))
        .form(&[("To", CUSTOMER)]);
    assert_eq!(answer(unauthenticated).await.0, 401);

    let form = [("To", CUSTOMER), ("From", NUMBER), ("Body", "hi")];
    let expected = [
        error(20429, "Too Many Requests", 429),
        error(20500, "Internal Server Error", 500),
        error(20503, "Service Unavailable", 503),
        error(21211, "Invalid 'To' Phone Number", 400),
        error(21610, "Attempt to send to unsubscribed recipient", 400),
        error(20003, "Authenticate", 401),
    ];
    for envelope in &expected {
        let status = envelope["status"].as_u64().unwrap() as u16;
        assert_eq!(send(&fake, &form).await, (status, envelope.clone()));
    }
    // Before validation: even a send with no parameters gets the scripted answer.
    let filtered = error(30007, "Message filtered", 400);
    assert_eq!(send(&fake, &[]).await, (400, filtered));
    let (status, message) = send(&fake, &form).await;
    assert_eq!((status, &message["status"]), (201, &json!("queued")));

    let codes: Vec<Option<u32>> = fake.sent().iter().map(|s| s.error_code).collect();
    let expected_codes = [20429, 20500, 20503, 21211, 21610, 20003, 30007].map(Some);
    assert_eq!(codes[..7], expected_codes);
    assert_eq!(codes[7], None);
    assert!(fake.sent()[..7].iter().all(|s| s.sid.is_none()));
}

#[tokio::test]
async fn opted_out_recipients_get_21610_until_they_opt_in() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    fake.opt_out(CUSTOMER);
    let form = [("To", CUSTOMER), ("From", NUMBER), ("Body", "hi")];
    let unsubscribed = error(21610, "Attempt to send to unsubscribed recipient", 400);
    assert_eq!(send(&fake, &form).await, (400, unsubscribed.clone()));
    let service = [
        ("To", CUSTOMER),
        ("MessagingServiceSid", SERVICE),
        ("Body", "hi"),
    ];
    assert_eq!(send(&fake, &service).await, (400, unsubscribed));
    let other = [("To", "+14155550100"), ("From", NUMBER), ("Body", "hi")];
    assert_eq!(send(&fake, &other).await.0, 201);
    fake.opt_in(CUSTOMER);
    assert_eq!(send(&fake, &form).await.0, 201);
    let codes: Vec<Option<u32>> = fake.sent().iter().map(|s| s.error_code).collect();
    assert_eq!(codes, [Some(21610), Some(21610), None, None]);
}

#[test]
fn segments_follow_gsm7_and_ucs2_limits() {
    // GSM-7: 160 septets in one segment, then 153 per part.
    assert_eq!(segments(""), 1);
    assert_eq!(segments(&"a".repeat(160)), 1);
    assert_eq!(segments(&"a".repeat(161)), 2);
    assert_eq!(segments(&"a".repeat(306)), 2);
    assert_eq!(segments(&"a".repeat(307)), 3);
    // Accented letters and Greek capitals of the basic set are one septet.
    assert_eq!(segments(&"éΔ@£".repeat(40)), 1);
    // Extension characters take two septets each.
    assert_eq!(segments(&"€".repeat(80)), 1);
    assert_eq!(segments(&"€".repeat(81)), 2);
    assert_eq!(segments(&format!("{}[", "a".repeat(158))), 1);
    assert_eq!(segments(&format!("{}[", "a".repeat(159))), 2);
    for c in ['^', '{', '}', '\\', '[', '~', ']', '|', '€', '\x0c'] {
        let body = format!("{}{c}", "a".repeat(158));
        assert_eq!(segments(&body), 1, "{c:?}");
        let body = format!("{}{c}", "a".repeat(159));
        assert_eq!(segments(&body), 2, "{c:?}");
    }
    // An escape pair never straddles two parts.
    let straddling = format!("{}€{}", "a".repeat(152), "a".repeat(152));
    assert_eq!(segments(&straddling), 3);
    // UCS-2 as soon as one character is outside GSM-7: 70 code units, then 67 each.
    assert_eq!(segments(&"Ж".repeat(70)), 1);
    assert_eq!(segments(&"Ж".repeat(71)), 2);
    assert_eq!(segments(&"Ж".repeat(134)), 2);
    assert_eq!(segments(&"Ж".repeat(135)), 3);
    assert_eq!(segments(&format!("{}Ж", "a".repeat(69))), 1);
    assert_eq!(segments(&format!("{}Ж", "a".repeat(70))), 2);
    // The backtick and the tab are ASCII but not GSM-7.
    assert_eq!(segments(&format!("{}`", "a".repeat(100))), 2);
    assert_eq!(segments(&format!("{}\t", "a".repeat(100))), 2);
    // An emoji is two UTF-16 code units, and a surrogate pair is never split.
    assert_eq!(segments("😀"), 1);
    assert_eq!(segments(&"😀".repeat(35)), 1);
    assert_eq!(segments(&"😀".repeat(36)), 2);
    assert_eq!(segments(&format!("{}😀", "a".repeat(69))), 2);
    let straddling = format!("{}😀{}", "Ж".repeat(66), "Ж".repeat(66));
    assert_eq!(segments(&straddling), 3);
    // Chinese: one code unit per character.
    assert_eq!(segments("您好，我的订单还没有到。"), 1);
    assert_eq!(segments(&"订".repeat(70)), 1);
    assert_eq!(segments(&"订".repeat(71)), 2);
    assert_eq!(segments(&"订".repeat(201)), 3);
    assert_eq!(segments(&"订".repeat(202)), 4);
}

#[tokio::test]
async fn sent_counts_segments_of_the_body() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let bodies = ["a".repeat(161), "😀".repeat(36), "订".repeat(70)];
    for body in &bodies {
        let (status, message) =
            send(&fake, &[("To", CUSTOMER), ("From", NUMBER), ("Body", body)]).await;
        assert_eq!(status, 201);
        assert_eq!(message["num_segments"], segments(body).to_string());
    }
    let counted: Vec<u32> = fake.sent().iter().map(|s| s.num_segments).collect();
    assert_eq!(counted, [2, 2, 1]);
}

#[tokio::test]
async fn media_needs_basic_auth_then_redirects_to_the_cdn() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let png = b"\x89PNG\r\n\x1a\nnot really an image";
    let url = fake.add_media(png, "image/png");
    let prefix = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT}/Messages/MM",
        fake.api_url()
    );
    assert!(url.starts_with(&prefix), "{url}");
    let media_sid = url.rsplit('/').next().unwrap();
    assert!(is_sid(media_sid, "ME"), "{url}");

    let authenticate = error(20003, "Authenticate", 401);
    assert_eq!(answer(http().get(&url)).await, (401, authenticate.clone()));
    let wrong = http().get(&url).basic_auth(ACCOUNT, Some("nope"));
    assert_eq!(answer(wrong).await, (401, authenticate));
    assert_eq!(fake.media_downloads(), 0);

    let response = http()
        .get(&url)
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), png);
    assert_eq!(fake.media_downloads(), 1);

    // Without following redirects the client sees Twilio's 307 to the CDN.
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(&url)
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains(ACCOUNT), "{location}");
    assert_eq!(fake.media_downloads(), 1);
    let from_cdn = http().get(&location).send().await.unwrap();
    assert_eq!(from_cdn.bytes().await.unwrap().as_ref(), png);
    assert_eq!(fake.media_downloads(), 2);

    let metadata = http()
        .get(format!("{url}.json"))
        .basic_auth(ACCOUNT, Some(TOKEN));
    let (status, resource) = answer(metadata).await;
    assert_eq!(status, 200);
    assert_eq!(resource["content_type"], "image/png");
    assert_eq!(resource["sid"], media_sid);
    assert_eq!(resource["account_sid"], ACCOUNT);

    let missing = url.replace(media_sid, "ME00000000000000000000000000000000");
    let path = missing.strip_prefix(&fake.api_url()).unwrap().to_owned();
    let not_found = error(
        20404,
        &format!("The requested resource {path} was not found"),
        404,
    );
    let request = http().get(&missing).basic_auth(ACCOUNT, Some(TOKEN));
    assert_eq!(answer(request).await, (404, not_found));
    assert_eq!(fake.media_downloads(), 2);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_twilio_errors() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let calls = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
        fake.api_url()
    );
    let request = http().post(&calls).basic_auth(ACCOUNT, Some(TOKEN));
    let path = format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json");
    let not_found = error(
        20404,
        &format!("The requested resource {path} was not found"),
        404,
    );
    assert_eq!(answer(request).await, (404, not_found));
    // Twilio authenticates before looking the resource up.
    assert_eq!(answer(http().post(&calls)).await.0, 401);
    let root = error(20404, "The requested resource / was not found", 404);
    assert_eq!(answer(http().get(fake.api_url())).await, (404, root));
    let list = http()
        .get(messages_url(&fake, ACCOUNT))
        .basic_auth(ACCOUNT, Some(TOKEN));
    assert_eq!(
        answer(list).await,
        (405, error(20004, "Method not allowed", 405))
    );
    assert!(fake.sent().is_empty());
}

/// A request a receiver got, with whether its signature checked out.
#[derive(Clone, Debug)]
struct Hit {
    params: Vec<(String, String)>,
    signed_over: String,
    valid: bool,
    headers: HeaderMap,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    /// The URL signatures are checked over, when it differs from the one posted to
    /// (the public URL behind a proxy); else the URL as received.
    public_url: Option<String>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// A webhook receiver on 127.0.0.1 that checks X-Twilio-Signature like the gateway
/// should: 204 when it checks out, 403 otherwise.
async fn start_receiver(public_url: Option<&str>) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver {
        url: format!("http://{}", listener.local_addr().unwrap()),
        public_url: public_url.map(str::to_owned),
        hits: Arc::default(),
    };
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    receiver
}

async fn receive(
    State(receiver): State<Receiver>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> StatusCode {
    let signed_over = match &receiver.public_url {
        Some(public) => public.clone(),
        None => format!("{}{uri}", receiver.url),
    };
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    let valid = given == Some(signature(TOKEN, &signed_over, &params).as_str());
    let hit = Hit {
        params,
        signed_over,
        valid,
        headers,
    };
    receiver.hits.lock().unwrap().push(hit);
    if valid {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::FORBIDDEN
    }
}

impl Receiver {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

fn param<'h>(hit: &'h Hit, name: &str) -> Option<&'h str> {
    let found = hit.params.iter().find(|(k, _)| k == name);
    found.map(|(_, v)| v.as_str())
}

fn names(hit: &Hit) -> Vec<&str> {
    let mut names: Vec<&str> = hit.params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names
}

async fn accepted_sid(fake: &FakeTwilio, form: &[(&str, &str)]) -> String {
    let (status, message) = send(fake, form).await;
    assert_eq!(status, 201, "{message}");
    message["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn emit_status_posts_signed_callbacks_to_the_status_callback() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let receiver = start_receiver(None).await;
    // The query string is part of what is signed, exactly as given.
    let callback = format!("{}/twilio/status?ticket=7&note=a%20b", receiver.url);
    let form = [
        ("To", CUSTOMER),
        ("From", NUMBER),
        ("Body", "hi"),
        ("StatusCallback", callback.as_str()),
    ];
    let sid = accepted_sid(&fake, &form).await;
    assert_eq!(fake.emit_status(&sid, "sent", None).await, 204);
    assert_eq!(
        fake.emit_status(&sid, "undelivered", Some(30003)).await,
        204
    );

    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.valid && h.signed_over == callback));
    let first = &hits[0];
    let expected = [
        "AccountSid",
        "ApiVersion",
        "From",
        "MessageSid",
        "MessageStatus",
        "SmsSid",
        "SmsStatus",
        "To",
    ];
    assert_eq!(names(first), expected);
    let sorted: Vec<&str> = first.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_ne!(sorted, expected, "posted unsorted, like Twilio");
    assert_eq!(param(first, "MessageSid"), Some(sid.as_str()));
    assert_eq!(param(first, "SmsSid"), Some(sid.as_str()));
    assert_eq!(param(first, "AccountSid"), Some(ACCOUNT));
    assert_eq!(param(first, "From"), Some(NUMBER));
    assert_eq!(param(first, "To"), Some(CUSTOMER));
    assert_eq!(param(first, "MessageStatus"), Some("sent"));
    assert_eq!(param(first, "SmsStatus"), Some("sent"));
    assert_eq!(param(first, "ApiVersion"), Some("2010-04-01"));
    let second = &hits[1];
    assert_eq!(param(second, "MessageStatus"), Some("undelivered"));
    assert_eq!(param(second, "ErrorCode"), Some("30003"));
    let done = param(second, "RawDlrDoneDate").unwrap();
    assert!(
        done.len() == 10 && done.bytes().all(|b| b.is_ascii_digit()),
        "{done}"
    );
    let content_type = &second.headers["content-type"];
    assert_eq!(content_type, "application/x-www-form-urlencoded");
    assert_eq!(second.headers["user-agent"], "TwilioProxy/1.1");

    let posts = fake.status_posts();
    let summary: Vec<(&str, Option<u32>, u16)> = posts
        .iter()
        .map(|p| (p.status.as_str(), p.error_code, p.http_status))
        .collect();
    assert_eq!(
        summary,
        [("sent", None, 204), ("undelivered", Some(30003), 204)]
    );
    assert!(posts.iter().all(|p| p.sid == sid && p.url == callback));

    // Through a Messaging Service the callback names it and the pool's sender.
    let form = [
        ("To", CUSTOMER),
        ("MessagingServiceSid", SERVICE),
        ("Body", "hi"),
        ("StatusCallback", callback.as_str()),
    ];
    let sid = accepted_sid(&fake, &form).await;
    assert_eq!(fake.emit_status(&sid, "delivered", None).await, 204);
    let hit = receiver.hits().pop().unwrap();
    assert!(hit.valid);
    assert_eq!(param(&hit, "MessagingServiceSid"), Some(SERVICE));
    assert_eq!(param(&hit, "From"), Some(SERVICE_SENDER));

    // A receiver that checks over another URL than the callback given refuses.
    let elsewhere = start_receiver(Some("https://gateway.example.com/twilio/status")).await;
    let callback = format!("{}/twilio/status", elsewhere.url);
    let form = [
        ("To", CUSTOMER),
        ("From", NUMBER),
        ("Body", "hi"),
        ("StatusCallback", callback.as_str()),
    ];
    let sid = accepted_sid(&fake, &form).await;
    assert_eq!(fake.emit_status(&sid, "sent", None).await, 403);
    assert!(!elsewhere.hits()[0].valid);

    // Nobody listening: 0.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/status", listener.local_addr().unwrap())
    };
    let form = [
        ("To", CUSTOMER),
        ("From", NUMBER),
        ("Body", "hi"),
        ("StatusCallback", closed.as_str()),
    ];
    let sid = accepted_sid(&fake, &form).await;
    assert_eq!(fake.emit_status(&sid, "sent", None).await, 0);
}

#[tokio::test]
async fn auto_status_posts_sent_then_delivered() {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let receiver = start_receiver(None).await;
    let callback = format!("{}/status", receiver.url);
    let with_callback = [
        ("To", CUSTOMER),
        ("From", NUMBER),
        ("Body", "hi"),
        ("StatusCallback", callback.as_str()),
    ];
    // Off by default.
    accepted_sid(&fake, &with_callback).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.hits().is_empty());

    fake.auto_status(true);
    let without_callback = [("To", CUSTOMER), ("From", NUMBER), ("Body", "no callback")];
    accepted_sid(&fake, &without_callback).await;
    let first = accepted_sid(&fake, &with_callback).await;
    let second = accepted_sid(&fake, &with_callback).await;
    // Refused sends get no callbacks.
    fake.fail_next(Failure::TooManyRequests);
    assert_eq!(send(&fake, &with_callback).await.0, 429);
    let posts = fake.wait_for_status_posts(4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.status_posts().len(), 4);
    for sid in [&first, &second] {
        let statuses: Vec<&str> = posts
            .iter()
            .filter(|p| &p.sid == sid)
            .map(|p| p.status.as_str())
            .collect();
        assert_eq!(statuses, ["sent", "delivered"], "{sid}");
    }
    assert!(posts.iter().all(|p| p.http_status == 204));
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h.valid));
    let order: Vec<(&str, &str)> = hits
        .iter()
        .filter(|h| param(h, "MessageSid") == Some(first.as_str()))
        .map(|h| {
            (
                param(h, "MessageStatus").unwrap(),
                param(h, "SmsStatus").unwrap(),
            )
        })
        .collect();
    assert_eq!(order, [("sent", "sent"), ("delivered", "delivered")]);
}

#[tokio::test]
async fn inbound_sms_has_every_parameter_and_post_form_signs_the_public_url() {
    let public = "https://support.example.com/hooks/twilio/sms?tenant=acme";
    let receiver = start_receiver(Some(public)).await;
    let post_to = format!("{}/hooks/twilio/sms?tenant=acme", receiver.url);
    let params = inbound_sms(ACCOUNT, CUSTOMER, NUMBER, "Where is my order?", &[]);
    let get = |name: &str| {
        let found = params.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    };
    let sid = get("MessageSid").unwrap();
    assert!(is_sid(sid, "SM"), "{sid}");
    assert_eq!(get("SmsSid"), Some(sid));
    assert_eq!(get("SmsMessageSid"), Some(sid));
    assert_eq!(get("AccountSid"), Some(ACCOUNT));
    assert_eq!(get("MessagingServiceSid"), None);
    assert_eq!(get("From"), Some(CUSTOMER));
    assert_eq!(get("To"), Some(NUMBER));
    assert_eq!(get("Body"), Some("Where is my order?"));
    assert_eq!(get("NumMedia"), Some("0"));
    assert_eq!(get("NumSegments"), Some("1"));
    assert_eq!(get("SmsStatus"), Some("received"));
    assert_eq!(get("ApiVersion"), Some("2010-04-01"));
    assert_eq!(get("FromCity"), Some("SAN FRANCISCO"));
    assert_eq!(get("FromState"), Some("CA"));
    assert_eq!(get("FromCountry"), Some("US"));
    assert!(get("FromZip").is_some() && get("ToCity").is_some());
    assert_eq!(get("ToCountry"), Some("US"));
    assert_eq!(get("MediaUrl0"), None);
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let expected = [
        "AccountSid",
        "ApiVersion",
        "Body",
        "From",
        "FromCity",
        "FromCountry",
        "FromState",
        "FromZip",
        "MessageSid",
        "NumMedia",
        "NumSegments",
        "SmsMessageSid",
        "SmsSid",
        "SmsStatus",
        "To",
        "ToCity",
        "ToCountry",
        "ToState",
        "ToZip",
    ];
    assert_eq!(names, expected);
    let again = inbound_sms(ACCOUNT, CUSTOMER, NUMBER, "Where is my order?", &[]);
    assert_ne!(again, params, "a fresh MessageSid each time");

    let response = post_form(&post_to, public, TOKEN, &params).await;
    assert_eq!(response.status(), 204);
    let hit = receiver.hits().pop().unwrap();
    assert!(hit.valid, "checked over the public URL");
    assert_eq!(hit.params, params, "every parameter arrives, in order");
    assert_eq!(
        hit.headers["x-twilio-signature"].to_str().unwrap(),
        signature(TOKEN, public, &params)
    );
    assert_ne!(
        signature(TOKEN, public, &params),
        signature(TOKEN, &post_to, &params)
    );
    // Signed over the posting URL instead of the public one: refused.
    let response = post_form(&post_to, &post_to, TOKEN, &params).await;
    assert_eq!(response.status(), 403);
    let response = post_form(&post_to, public, "another token", &params).await;
    assert_eq!(response.status(), 403);

    // An MMS, with a body Twilio's form encoding must carry intact.
    let fake = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let photo = fake.add_media(b"jpeg bytes", "image/jpeg");
    let pdf = fake.add_media(b"%PDF-1.7", "application/pdf");
    let media = [
        (photo.clone(), "image/jpeg".to_string()),
        (pdf.clone(), "application/pdf".to_string()),
    ];
    let body = "Photo + invoice: 100% broken & late 😡";
    let params = inbound_sms(ACCOUNT, "+447911123456", NUMBER, body, &media);
    let get = |name: &str| {
        let found = params.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    };
    assert!(is_sid(get("MessageSid").unwrap(), "MM"));
    assert_eq!(get("NumMedia"), Some("2"));
    assert_eq!(get("MediaUrl0"), Some(photo.as_str()));
    assert_eq!(get("MediaContentType0"), Some("image/jpeg"));
    assert_eq!(get("MediaUrl1"), Some(pdf.as_str()));
    assert_eq!(get("MediaContentType1"), Some("application/pdf"));
    assert_eq!(get("FromCountry"), Some("GB"));
    assert_eq!(
        get("FromCity"),
        Some(""),
        "unknown places are empty, not absent"
    );
    let response = post_form(&post_to, public, TOKEN, &params).await;
    assert_eq!(response.status(), 204);
    let hit = receiver.hits().pop().unwrap();
    assert!(hit.valid);
    assert_eq!(param(&hit, "Body"), Some(body));
    assert_eq!(hit.params, params);
}
