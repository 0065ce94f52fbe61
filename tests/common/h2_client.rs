//! The HTTP/2 client of the end-to-end tests, built on the `h2` crate: one
//! connection (clear text with prior knowledge, or TLS with ALPN `h2`) carrying
//! several requests concurrently, bodies and responses streamed both ways at once.
//! Re-exported by `common::h2`, where the tests reach it.

use std::time::Duration;

use ::h2::client::SendRequest;
use bytes::Bytes;
use http::{HeaderMap, Request};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use super::h2::{header_map, send_all};
use super::tls::{client_config, cn_of};

/// Upper bound of one client exchange (all its requests), so no test hangs.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where an H2 client connects: 127.0.0.1:`port`, clear (prior knowledge) or TLS
/// (ALPN `h2`, any certificate accepted, `sni` sent).
#[derive(Clone, Debug)]
pub struct H2Target {
    pub port: u16,
    pub tls: bool,
    pub sni: String,
}

impl H2Target {
    pub fn clear(port: u16) -> H2Target {
        H2Target {
            port,
            tls: false,
            sni: String::new(),
        }
    }

    pub fn tls(port: u16, sni: &str) -> H2Target {
        H2Target {
            port,
            tls: true,
            sni: sni.to_string(),
        }
    }

    fn default_authority(&self) -> String {
        if self.tls {
            format!("{}:{}", self.sni, self.port)
        } else {
            format!("127.0.0.1:{}", self.port)
        }
    }
}

/// One request for `h2_exchange`.
#[derive(Clone, Debug)]
pub struct H2Request {
    pub method: String,
    pub path: String,
    /// `:authority`; `None`: `127.0.0.1:PORT` (clear) or `SNI:PORT` (TLS).
    pub authority: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl H2Request {
    pub fn get(path: &str) -> H2Request {
        H2Request {
            method: "GET".into(),
            path: path.into(),
            authority: None,
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    pub fn post(path: &str, body: Vec<u8>) -> H2Request {
        H2Request {
            method: "POST".into(),
            body,
            ..H2Request::get(path)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> H2Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn trailer(mut self, name: &str, value: &str) -> H2Request {
        self.trailers.push((name.into(), value.into()));
        self
    }

    pub fn authority(mut self, a: &str) -> H2Request {
        self.authority = Some(a.into());
        self
    }
}

/// A response as the H2 client received it.
#[derive(Clone, Debug)]
pub struct H2Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub trailers: Option<HeaderMap>,
}

impl H2Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn trailer(&self, name: &str) -> Option<String> {
        self.trailers
            .as_ref()?
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What one client connection gave: the TLS facts and one result per request, in
/// request order.
#[derive(Debug)]
pub struct H2Exchange {
    pub alpn: Option<String>,
    /// CN of the certificate the server presented (TLS only).
    pub peer_cn: Option<String>,
    pub responses: Vec<Result<H2Response, String>>,
}

/// Opens one HTTP/2 connection to `t`, sends all `reqs` concurrently on it (bodies
/// and responses streamed both ways at once), and collects the answers. `Err` when
/// the connection itself fails; bounded by `CLIENT_TIMEOUT`.
pub fn h2_exchange(t: &H2Target, reqs: Vec<H2Request>) -> Result<H2Exchange, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(CLIENT_TIMEOUT, exchange(t, reqs))
            .await
            .map_err(|_| format!("h2 exchange timed out after {CLIENT_TIMEOUT:?}"))?
    })
}

/// One request on a fresh connection; panics on any failure.
pub fn h2_one(t: &H2Target, req: H2Request) -> H2Response {
    let what = format!("{} {}", req.method, req.path);
    let mut x = h2_exchange(t, vec![req]).unwrap_or_else(|e| panic!("{what}: {e}"));
    x.responses
        .pop()
        .unwrap()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// `GET path` on a fresh clear-text connection to `port`; panics on failure.
pub fn h2_get(port: u16, path: &str) -> H2Response {
    h2_one(&H2Target::clear(port), H2Request::get(path))
}

async fn exchange(t: &H2Target, reqs: Vec<H2Request>) -> Result<H2Exchange, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", t.port))
        .await
        .map_err(|e| format!("connect 127.0.0.1:{}: {e}", t.port))?;
    let _ = tcp.set_nodelay(true);
    let scheme = if t.tls { "https" } else { "http" };
    let authority = t.default_authority();
    if !t.tls {
        let responses = run_requests(tcp, scheme, &authority, reqs).await?;
        return Ok(H2Exchange {
            alpn: None,
            peer_cn: None,
            responses,
        });
    }
    let name = ServerName::try_from(t.sni.clone()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(client_config(None, None, &["h2"]))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let (_, c) = tls.get_ref();
    let alpn = c
        .alpn_protocol()
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let peer_cn = c
        .peer_certificates()
        .and_then(|v| v.first())
        .map(|d| cn_of(d.as_ref()));
    let responses = run_requests(tls, scheme, &authority, reqs).await?;
    Ok(H2Exchange {
        alpn,
        peer_cn,
        responses,
    })
}

async fn run_requests<T>(
    io: T,
    scheme: &str,
    authority: &str,
    reqs: Vec<H2Request>,
) -> Result<Vec<Result<H2Response, String>>, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sr, conn) = ::h2::client::Builder::new()
        .initial_window_size(256 * 1024)
        .initial_connection_window_size(1 << 20)
        .handshake::<T, Bytes>(io)
        .await
        .map_err(|e| format!("h2 handshake: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let tasks: Vec<_> = reqs
        .into_iter()
        .map(|r| {
            let uri = format!(
                "{scheme}://{}{}",
                r.authority.as_deref().unwrap_or(authority),
                r.path
            );
            tokio::spawn(one_request(sr.clone(), uri, r))
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
    }
    drop(sr);
    driver.abort();
    Ok(out)
}

async fn one_request(
    sr: SendRequest<Bytes>,
    uri: String,
    r: H2Request,
) -> Result<H2Response, String> {
    let mut sr = sr.ready().await.map_err(|e| format!("ready: {e}"))?;
    let mut b = Request::builder().method(r.method.as_str()).uri(uri);
    for (n, v) in &r.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    let req = b.body(()).map_err(|e| e.to_string())?;
    let end = r.body.is_empty() && r.trailers.is_empty();
    let (resp, mut send) = sr
        .send_request(req, end)
        .map_err(|e| format!("send_request: {e}"))?;
    // The body goes out from its own task while the response comes in.
    let sender = (!end).then(|| {
        let (body, trailers) = (r.body, r.trailers);
        tokio::spawn(async move {
            send_all(&mut send, Bytes::from(body), trailers.is_empty()).await?;
            if !trailers.is_empty() {
                send.send_trailers(header_map(&trailers))
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })
    });
    let resp = resp.await.map_err(|e| format!("response: {e}"))?;
    let (parts, mut body) = resp.into_parts();
    let mut data = Vec::new();
    while let Some(c) = body.data().await {
        let c = c.map_err(|e| format!("response body: {e}"))?;
        data.extend_from_slice(&c);
        let _ = body.flow_control().release_capacity(c.len());
    }
    let trailers = body
        .trailers()
        .await
        .map_err(|e| format!("trailers: {e}"))?;
    if let Some(s) = sender {
        s.await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("request body: {e}"))?;
    }
    Ok(H2Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: data,
        trailers,
    })
}
