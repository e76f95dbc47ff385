//! Just enough HTTP/1.1 framing for the test kit's servers (the fault proxy
//! and the Lambda Runtime API): message heads, bodies by Content-Length,
//! chunked or until close, keep-alive. Every read is bounded in size and
//! time; nothing here is a general HTTP implementation.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest message head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted (moto's data dump can be a few MB).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Most chunks in one chunked body, and header lines in one head.
const MAX_PARTS: usize = 100_000;

/// A request or status line and its headers, with the bytes as received.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    /// `POST / HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start: String,
    pub headers: Vec<(String, String)>,
    /// The head exactly as it came, blank line included.
    pub raw: Vec<u8>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    fn word(&self, index: usize) -> &str {
        self.start.split(' ').nth(index).unwrap_or("")
    }

    /// Request: the method.
    pub fn method(&self) -> &str {
        self.word(0)
    }

    /// Request: the target (path and query).
    pub fn target(&self) -> &str {
        self.word(1)
    }

    /// Request: the path without the query.
    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(p, _)| p)
    }

    /// Response: the status code (0 when unreadable).
    pub fn status(&self) -> u16 {
        self.word(1).parse().unwrap_or(0)
    }

    fn version(&self) -> &str {
        if self.start.starts_with("HTTP/") { self.word(0) } else { self.word(2) }
    }

    /// Whether the sender keeps the connection open after this message.
    pub fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            return false;
        }
        self.version() != "HTTP/1.0" || self.has_token("connection", "keep-alive")
    }

    fn chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }

    fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }

    /// How a request's body is delimited.
    pub fn request_body(&self) -> BodyKind {
        if self.chunked() { BodyKind::Chunked } else { BodyKind::Length(self.content_length().unwrap_or(0)) }
    }

    /// How a response's body is delimited, given the request's method.
    pub fn response_body(&self, request_method: &str) -> BodyKind {
        let status = self.status();
        if request_method.eq_ignore_ascii_case("HEAD") || (100..200).contains(&status) || status == 204 || status == 304
        {
            BodyKind::Length(0)
        } else if self.chunked() {
            BodyKind::Chunked
        } else if let Some(length) = self.content_length() {
            BodyKind::Length(length)
        } else {
            BodyKind::UntilClose
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A body as it came on the wire and decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Body {
    pub raw: Vec<u8>,
    pub decoded: Vec<u8>,
}

/// One side of a connection with a read buffer.
pub(crate) struct Conn<S> {
    pub stream: S,
    buf: Vec<u8>,
    /// Every single read must complete within this.
    pub io_timeout: Duration,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "read timed out")
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S, io_timeout: Duration) -> Self {
        Conn { stream, buf: Vec::new(), io_timeout }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream. Cancel
    /// safe (no bytes are lost when the future is dropped).
    pub async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn fill_timed(&mut self, limit: Duration) -> io::Result<usize> {
        tokio::time::timeout(limit, self.fill()).await.map_err(|_| timed_out())?
    }

    /// The next message head; `None` when the peer closed cleanly between
    /// messages. `idle` bounds the wait for its first byte.
    pub async fn read_head(&mut self, idle: Duration) -> io::Result<Option<Head>> {
        let mut first = true;
        for _ in 0..MAX_PARTS {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let raw: Vec<u8> = self.buf.drain(..end + 4).collect();
                return parse_head(raw).map(Some);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("message head too large"));
            }
            let limit = if first && self.buf.is_empty() { idle } else { self.io_timeout };
            first = false;
            if self.fill_timed(limit).await? == 0 {
                return if self.buf.is_empty() { Ok(None) } else { Err(invalid("connection closed inside a head")) };
            }
        }
        Err(invalid("message head never ended"))
    }

    async fn take_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        // Each read adds at least one byte: at most n + 1 rounds.
        for _ in 0..=n {
            if self.buf.len() >= n {
                return Ok(self.buf.drain(..n).collect());
            }
            if self.fill_timed(self.io_timeout).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a body"));
            }
        }
        Err(invalid("body never ended"))
    }

    async fn take_line(&mut self) -> io::Result<Vec<u8>> {
        for _ in 0..MAX_PARTS {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                return Ok(self.buf.drain(..end + 2).collect());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("chunk line too long"));
            }
            if self.fill_timed(self.io_timeout).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a chunk"));
            }
        }
        Err(invalid("chunk line never ended"))
    }

    /// A body of the given kind.
    pub async fn read_body(&mut self, kind: BodyKind) -> io::Result<Body> {
        match kind {
            BodyKind::Length(n) => {
                if n > MAX_BODY {
                    return Err(invalid("body too large"));
                }
                let raw = self.take_exact(n).await?;
                Ok(Body { decoded: raw.clone(), raw })
            }
            BodyKind::Chunked => {
                let mut body = Body::default();
                for _ in 0..MAX_PARTS {
                    let line = self.take_line().await?;
                    body.raw.extend_from_slice(&line);
                    let text = String::from_utf8_lossy(&line);
                    let size_text = text.trim().split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
                    if size == 0 {
                        // Trailers, up to the blank line.
                        for _ in 0..MAX_PARTS {
                            let trailer = self.take_line().await?;
                            body.raw.extend_from_slice(&trailer);
                            if trailer == b"\r\n" {
                                return Ok(body);
                            }
                        }
                        return Err(invalid("trailers never ended"));
                    }
                    if body.decoded.len() + size > MAX_BODY {
                        return Err(invalid("body too large"));
                    }
                    let data = self.take_exact(size + 2).await?;
                    body.decoded.extend_from_slice(&data[..size]);
                    body.raw.extend_from_slice(&data);
                }
                Err(invalid("too many chunks"))
            }
            BodyKind::UntilClose => {
                for _ in 0..=MAX_BODY {
                    if self.buf.len() > MAX_BODY {
                        return Err(invalid("body too large"));
                    }
                    if self.fill_timed(self.io_timeout).await? == 0 {
                        let raw = std::mem::take(&mut self.buf);
                        return Ok(Body { decoded: raw.clone(), raw });
                    }
                }
                Err(invalid("body never ended"))
            }
        }
    }

    /// Writes all of `bytes` within the io timeout.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        tokio::time::timeout(self.io_timeout, async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))?
    }
}

fn parse_head(raw: Vec<u8>) -> io::Result<Head> {
    let text = String::from_utf8_lossy(&raw[..raw.len() - 4]).into_owned();
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("").to_owned();
    if start.split(' ').count() < 2 {
        return Err(invalid("bad start line"));
    }
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Ok(Head { start, headers, raw })
}

/// A complete response with a Content-Length.
pub(crate) fn response(status: u16, reason: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
