//! A lean HTTP/1.1 keep-alive client: one TCP connection per task, one request at a
//! time on it (what wrk does), built on hyper's connection API.
//!
//! The vote scenario has to send thousands of requests per second from the same two
//! cores as the server, so the generator must cost little per request: no pool to look
//! up, no URL to parse, headers prepared once. reqwest's pooled client would work but
//! spends several times the CPU per request.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpStream;

/// Where requests go: the resolved address, the `Host` header, and the base URL's
/// path prefix (kept, like the web scenarios do).
#[derive(Debug, Clone)]
pub struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    prefix: String,
}

impl Target {
    /// Resolves the (already vetted) base URL once. Plain `http://` only: the scenario
    /// measures the service on its own port, not a TLS terminator.
    pub async fn resolve(base: &Url) -> Result<Self> {
        if base.scheme() != "http" {
            bail!("the votes scenario speaks plain http://, got {base}");
        }
        let host = base.host_str().context("the base URL has no host")?;
        let port = base.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} resolves to no address"))?;
        let authority = match base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&authority).context("the host is not a header value")?,
            prefix: base.path().trim_end_matches('/').to_string(),
        })
    }

    /// The request target of an API path (`/api/…`, possibly with a query).
    pub fn uri(&self, path: &str) -> Result<Uri> {
        format!("{}{path}", self.prefix)
            .parse()
            .with_context(|| format!("{path:?} is not a request path"))
    }
}

/// A request that got no HTTP answer, by kind (the names the web scenarios use).
/// The discriminants index the failure counters of a tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the request timeout.
    Timeout = 0,
    /// The TCP connection or the HTTP handshake failed.
    Connect = 1,
    /// The connection broke while sending or reading the head.
    Transport = 2,
    /// The body broke off.
    Body = 3,
}

impl Failure {
    /// Every kind, in report order.
    pub const ALL: [Failure; 4] = [
        Failure::Timeout,
        Failure::Connect,
        Failure::Transport,
        Failure::Body,
    ];

    /// Stable name in the summary's status counts.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connect => "connect",
            Failure::Transport => "transport",
            Failure::Body => "body",
        }
    }
}

/// A status and the whole body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// One keep-alive connection, reopened when the server closes it or a request fails.
pub struct Conn {
    target: Target,
    timeout: Duration,
    sender: Option<SendRequest<Empty<Bytes>>>,
    /// TCP connections opened so far (1 for a connection kept alive all run long).
    pub connects: u64,
}

impl Conn {
    /// A connection to `target`, opened at the first request.
    pub fn new(target: Target, timeout: Duration) -> Self {
        Self {
            target,
            timeout,
            sender: None,
            connects: 0,
        }
    }

    /// Sends `method uri` with an optional `Authorization` value and reads the whole
    /// answer, within the request timeout (connecting included).
    pub async fn send(
        &mut self,
        method: Method,
        uri: &Uri,
        authorization: Option<&HeaderValue>,
    ) -> Result<Answer, Failure> {
        let post = method == Method::POST;
        let mut request = Request::new(Empty::<Bytes>::new());
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.target.host.clone());
        if post {
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        let outcome = match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Timeout),
        };
        if outcome.is_err() {
            // The connection's state is unknown after a failure: start afresh.
            self.sender = None;
        }
        outcome
    }

    async fn exchange(&mut self, request: Request<Empty<Bytes>>) -> Result<Answer, Failure> {
        let sender = self.ready().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| Failure::Transport)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| Failure::Body)?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// The open connection, or a new one when there is none or the server closed it.
    async fn ready(&mut self) -> Result<&mut SendRequest<Empty<Bytes>>, Failure> {
        let alive = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !alive {
            let stream = TcpStream::connect(self.target.addr)
                .await
                .map_err(|_| Failure::Connect)?;
            // Requests are small and answers awaited one by one: Nagle would only delay.
            let _ = stream.set_nodelay(true);
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|_| Failure::Connect)?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.connects += 1;
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("a connection was opened above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn targets_keep_the_path_prefix_and_refuse_https() {
        let plain = Target::resolve(&Url::parse("http://127.0.0.1:8123").unwrap())
            .await
            .unwrap();
        assert_eq!(plain.host, "127.0.0.1:8123");
        assert_eq!(
            plain.uri("/api/public/rankings?city=X").unwrap(),
            "/api/public/rankings?city=X"
        );
        let prefixed = Target::resolve(&Url::parse("http://[::1]:9/v1/").unwrap())
            .await
            .unwrap();
        assert_eq!(prefixed.addr, "[::1]:9".parse().unwrap());
        assert_eq!(prefixed.uri("/api/x").unwrap(), "/v1/api/x");
        assert!(
            Target::resolve(&Url::parse("https://127.0.0.1").unwrap())
                .await
                .is_err()
        );
    }
}
