//! A web chat client for tests: the widget's side of the WebSocket protocol, frame
//! by frame, over tokio-tungstenite.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error, Message};

/// The site the test config allows.
pub const ORIGIN: &str = "https://shop.example";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Chat {
    socket: Socket,
}

/// The WebSocket URL of a gateway's chat channel.
pub fn ws_url(gateway: &str, channel: &str) -> String {
    format!(
        "{}/webchat/{channel}/ws",
        gateway.replacen("http://", "ws://", 1)
    )
}

/// Opens a socket from `origin`: the socket, or the HTTP status it was refused with.
pub async fn open_from(url: &str, origin: Option<&str>) -> Result<Chat, u16> {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(Chat { socket }),
        Err(Error::Http(response)) => Err(response.status().as_u16()),
        Err(error) => panic!("cannot connect to {url}: {error}"),
    }
}

impl Chat {
    pub async fn open(url: &str) -> Chat {
        open_from(url, Some(ORIGIN))
            .await
            .expect("the socket opens")
    }

    /// Opens a socket and says hello; returns it with the `welcome` frame.
    pub async fn start(url: &str, hello: Value) -> (Chat, Value) {
        let mut chat = Chat::open(url).await;
        chat.send(&hello).await;
        let welcome = chat.expect("welcome").await;
        (chat, welcome)
    }

    pub async fn send(&mut self, frame: &Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("the socket takes the frame");
    }

    /// The next JSON frame (pings are answered by the library), or `None` when the
    /// socket closed; fails after 10 s.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a frame within 10 s")
    }

    /// The next JSON frame within `wait`: `Err` when none came, `Ok(None)` closed.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| ())?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Ok(Some(serde_json::from_str(&text).expect("frames are JSON")));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self
            .next()
            .await
            .unwrap_or_else(|| panic!("closed before {kind}"));
        assert_eq!(frame["type"], kind, "expected {kind}, got {frame}");
        frame
    }

    /// Skips frames until one of type `kind` (typing, status) comes.
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let frame = self
                .next()
                .await
                .unwrap_or_else(|| panic!("closed before {kind}"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Sends a message and returns its `ack` and then the `message` frame.
    pub async fn say(&mut self, id: &str, text: &str) -> (Value, Value) {
        self.send(&json!({"type": "message", "id": id, "text": text}))
            .await;
        let ack = self.until("ack").await;
        let message = self.until("message").await;
        (ack, message)
    }

    /// Whether the socket closes (rather than sending anything) within 5 s.
    pub async fn closes(&mut self) -> bool {
        matches!(self.next_within(Duration::from_secs(5)).await, Ok(None))
    }

    /// Asserts nothing comes within `wait`.
    pub async fn quiet_for(&mut self, wait: Duration) {
        if let Ok(frame) = self.next_within(wait).await {
            panic!("expected nothing, got {frame:?}");
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// `hex(HMAC-SHA256(secret, user_id))`, as a site's server signs its user.
pub fn sign_user(secret: &str, user_id: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
