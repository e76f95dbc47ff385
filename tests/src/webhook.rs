//! A receiver on 127.0.0.1 for the alerts tests (a chat webhook) and the
//! migrate tests (CloudFormation's pre-signed response URL): records every
//! request (method, target, headers, body) and the JSON bodies it answered
//! with a success, answering with scripted responses (204 when the script
//! is used up). Bounded: it serves at most 200 connections.

use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// 429 with a `Retry-After` of this many seconds.
    RateLimited(u64),
    /// Never answers (the client's timeout fires).
    Hang,
}

/// One request as it came.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    posts: Vec<Value>,
    requests: usize,
    received: Vec<Received>,
}

pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        Self::start_at("/api/webhooks/123/secret-token", script).await
    }

    /// A receiver whose URL has this path (and query).
    pub async fn start_at(target: &str, script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the webhook receiver");
        let url = format!("http://{}{target}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State { script: script.into(), ..Default::default() }));
        let shared = state.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let state = shared.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else { return };
                    let body = request.body.clone();
                    let reply = {
                        let mut state = state.lock().unwrap();
                        state.requests += 1;
                        state.received.push(request);
                        let reply = state.script.pop_front().unwrap_or(Reply::Status(204));
                        if matches!(reply, Reply::Status(200..=299)) {
                            state.posts.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                        }
                        reply
                    };
                    let head = match reply {
                        Reply::Status(code) => {
                            format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        }
                        Reply::RateLimited(seconds) => format!(
                            "HTTP/1.1 429 Too Many Requests\r\nretry-after: {seconds}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        ),
                        Reply::Hang => {
                            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                            return;
                        }
                    };
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Receiver { url, state }
    }

    /// Bodies of the posts answered with a success.
    pub fn posts(&self) -> Vec<Value> {
        self.state.lock().unwrap().posts.clone()
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// Every request, whatever it was answered.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

/// Reads one HTTP/1.1 request.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut start = lines.next().unwrap_or_default().split(' ');
            let (method, target) =
                (start.next().unwrap_or_default().to_owned(), start.next().unwrap_or_default().to_owned());
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
                .collect();
            let length: usize =
                headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            return Some(Received { method, target, headers, body });
        }
    }
}
