//! A frame the chat widget sends over the WebSocket (a text message, so UTF-8), as
//! the socket reads it: `ClientFrame`, then what handling it does before any store
//! work: a hello's session token and signed identity, a message's id, its files'
//! upload tokens and the pre-chat form's email.
//!
//! Tokens from the input do not carry this channel's MAC, so the claims inside them
//! are also signed here and read back: that is what a token the gateway issued
//! looks like to `Signer::session`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_connector_webchat::inbound::{self, Upload};
use switchboard_connector_webchat::protocol::ClientFrame;
use switchboard_connector_webchat::session::{self, Signer, TokenError};
use switchboard_core::{Identity, Secret};

/// A second in 2026: sessions expire relative to it.
const NOW: i64 = 1_780_000_000;

fn check_session_token(signer: &Signer, token: &str) {
    match signer.session(token, NOW) {
        Ok(session) => {
            assert!(session.expires > NOW);
            // What the gateway signs, it reads back the same.
            let again = signer.session(&signer.session_token(&session), NOW);
            assert_eq!(again, Ok(session.clone()));
            assert!(!inbound::display_name(&session).is_empty());
        }
        Err(TokenError::Invalid | TokenError::Expired) => {}
    }
}

fn check_email(email: Option<&str>) {
    if let Some(email) = email {
        let _ = Identity::email(email);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return;
    };
    let signer = Signer::new(Secret::new("chat-secret"), "chat");
    match frame {
        ClientFrame::Hello {
            token, identity, ..
        } => {
            if let Some(token) = token {
                check_session_token(&signer, &token);
                check_session_token(&signer, &signer.sign_bytes("session", token.as_bytes()));
            }
            if let Some(identity) = identity {
                let secret = Secret::new("identity-secret");
                if let Some(conversation) =
                    session::signed_user(&secret, &identity.user_id, &identity.signature)
                {
                    assert_eq!(conversation, format!("u:{}", identity.user_id));
                }
                check_email(identity.email.as_deref());
            }
        }
        ClientFrame::Message {
            id,
            attachments,
            fields,
            ..
        } => {
            if inbound::check_client_id(&id).is_ok() {
                // The store key gives the widget's id back.
                let conversation = "v:YSjv-qxe0yi5";
                let key = inbound::external_id(conversation, &id);
                assert_eq!(inbound::client_id(conversation, &key), Some(id.as_str()));
            }
            for token in &attachments {
                for token in [token.clone(), signer.sign_bytes("upload", token.as_bytes())] {
                    if let Some(claims) = signer.verify_bytes("upload", &token) {
                        let _ = serde_json::from_slice::<Upload>(&claims);
                    }
                }
            }
            if let Some(fields) = fields {
                check_email(fields.email.as_deref());
            }
        }
        ClientFrame::Typing { .. }
        | ClientFrame::Received { .. }
        | ClientFrame::Read { .. }
        | ClientFrame::History { .. }
        | ClientFrame::Ping => {}
    }
});
