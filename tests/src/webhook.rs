//! A chat webhook receiver on 127.0.0.1 for the alerts tests: records every
//! POSTed JSON body and answers with scripted responses (204 when the
//! script is used up). Bounded: it serves at most 200 connections.

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

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    posts: Vec<Value>,
    requests: usize,
}

pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the webhook receiver");
        let url = format!("http://{}/api/webhooks/123/secret-token", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State { script: script.into(), ..Default::default() }));
        let shared = state.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let state = shared.clone();
                tokio::spawn(async move {
                    let Some(body) = read_request(&mut socket).await else { return };
                    let reply = {
                        let mut state = state.lock().unwrap();
                        state.requests += 1;
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
}

/// Reads one HTTP/1.1 request; returns its body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Some(buffer[end + 4..end + 4 + length].to_vec());
        }
    }
}
