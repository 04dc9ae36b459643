//! A customer's socket as a browser opens it: a TCP connection (from a chosen local
//! address, when given), the WebSocket upgrade with the page's `Origin`, then JSON
//! text frames. Also the failure tally shared by the chat's tasks.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error, Message};

pub type Socket = WebSocketStream<TcpStream>;

/// How long opening a socket and getting its `welcome` may take.
const OPEN_WITHIN: Duration = Duration::from_secs(30);

/// How much of a failure is kept as a sample for the report.
const SAMPLE_CHARS: usize = 200;

/// Where the sockets go.
pub struct Target {
    /// The gateway's address, resolved once.
    pub addr: SocketAddr,
    /// `ws://host:port/.../webchat/{channel}/ws`.
    pub url: String,
    /// A page the channel's `allowed_origins` lists.
    pub origin: HeaderValue,
    /// Local addresses to connect from, in turn; empty: the kernel picks.
    pub sources: Vec<IpAddr>,
}

/// Failures by kind, with the first sample of each.
#[derive(Debug, Default)]
pub struct Failures {
    pub counts: BTreeMap<String, u64>,
    pub samples: BTreeMap<String, String>,
}

impl Failures {
    pub fn add(&mut self, kind: impl Into<String>, sample: impl AsRef<str>) {
        let kind = kind.into();
        *self.counts.entry(kind.clone()).or_default() += 1;
        self.samples
            .entry(kind)
            .or_insert_with(|| sample.as_ref().chars().take(SAMPLE_CHARS).collect());
    }

    pub fn merge(&mut self, other: Failures) {
        for (kind, count) in other.counts {
            *self.counts.entry(kind).or_default() += count;
        }
        for (kind, sample) in other.samples {
            self.samples.entry(kind).or_insert(sample);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Why a socket did not open: a kind for the tally and the error.
pub struct OpenError(pub &'static str, pub String);

impl Target {
    /// Opens socket number `n` (which picks its source address), says `hello` and
    /// waits for the `welcome`, which it returns.
    pub async fn start(&self, n: u64) -> Result<(Socket, Value), OpenError> {
        match tokio::time::timeout(OPEN_WITHIN, self.start_now(n)).await {
            Ok(result) => result,
            Err(_) => Err(OpenError(
                "timeout",
                format!("no welcome within {} s", OPEN_WITHIN.as_secs()),
            )),
        }
    }

    async fn start_now(&self, n: u64) -> Result<(Socket, Value), OpenError> {
        let mut socket = self.open(n).await?;
        send(&mut socket, &serde_json::json!({"type": "hello"}))
            .await
            .map_err(|e| OpenError("hello", e))?;
        match next(&mut socket).await {
            Ok(Some(frame)) if frame["type"] == "welcome" => Ok((socket, frame)),
            Ok(Some(frame)) => Err(OpenError("no welcome", frame.to_string())),
            Ok(None) => Err(OpenError("closed before welcome", String::new())),
            Err(e) => Err(OpenError("closed before welcome", e)),
        }
    }

    async fn open(&self, n: u64) -> Result<Socket, OpenError> {
        let connect = |e: std::io::Error| OpenError("connect", e.to_string());
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(connect)?;
        if !self.sources.is_empty() {
            let source = self.sources[(n % self.sources.len() as u64) as usize];
            socket
                .bind(SocketAddr::new(source, 0))
                .map_err(|e| OpenError("bind", format!("{source}: {e}")))?;
        }
        let stream = socket.connect(self.addr).await.map_err(connect)?;
        stream.set_nodelay(true).map_err(connect)?;
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| OpenError("request", e.to_string()))?;
        request.headers_mut().insert("origin", self.origin.clone());
        // Small buffers: ten thousand sockets in this process too.
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
            Ok((socket, _)) => Ok(socket),
            Err(Error::Http(response)) => Err(OpenError(
                "refused",
                format!(
                    "HTTP {}: {}",
                    response.status(),
                    String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                ),
            )),
            Err(e) => Err(OpenError("handshake", e.to_string())),
        }
    }
}

pub async fn send(socket: &mut Socket, frame: &Value) -> Result<(), String> {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}

/// The next JSON frame; `None` once the socket closed. Pings are answered by the
/// library while it reads.
pub async fn next(socket: &mut Socket) -> Result<Option<Value>, String> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| format!("a frame is not JSON: {e}"));
            }
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}
