//! HTTP/2 pieces for end-to-end tests, built on the `h2` crate: an H2 origin server
//! (clear text with prior knowledge, or TLS with ALPN `h2`), and the H2 client that
//! sends several requests concurrently on one connection (in `h2_client`, re-exported
//! here). Hand-made frames (floods, malformed input, GOAWAY) live in `h2raw`.
//!
//! The origin answers by path:
//!
//! | path              | answer                                                          |
//! |-------------------|-----------------------------------------------------------------|
//! | `/echo`           | 200, streams the request body back as it arrives; request       |
//! |                   | headers reflected as `x-echo-<name>`, plus `x-echo-method` and  |
//! |                   | `x-echo-authority` (`:authority`); request trailers echoed back |
//! |                   | as response trailers                                            |
//! | `/big?n=N`        | 200, N bytes of `http::pattern`, content-length, sent in chunks |
//! |                   | as flow control allows                                          |
//! | `/trailers`       | 200, body `ok`, trailers `grpc-status: 0` and `x-trailer: yes`  |
//! | `/status/CODE`    | that status, body `status CODE` (none for 204/304)              |
//! | `/delay?ms=N`     | 200 `delayed` after N ms                                        |
//! | anything else     | 200 `h2 origin`                                                 |
//!
//! Every route but `/echo` reads the whole request body before answering, and its
//! response carries `x-body-len` and `x-body-sum` (`http::checksum`) of that body.
//! A request with `expect: 100-continue` first gets a `100` informational response.
//! Every response carries `x-origin: h2` and `x-conn-id` (per-origin connection
//! number, from 1). Every request is recorded (`H2Seen`) once its body has ended,
//! and every connection's end (`closed`, `open`). `start_limited` announces a
//! smaller SETTINGS_MAX_CONCURRENT_STREAMS than the default 256.

use std::future::poll_fn;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ::h2::server::SendResponse;
use ::h2::{RecvStream, SendStream};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};

pub use super::h2_client::*;
use super::tls::self_signed_pem;

/// SETTINGS_MAX_CONCURRENT_STREAMS of `H2Origin::start` and `start_tls`.
pub const DEFAULT_MAX_STREAMS: u32 = 256;
/// Size of the DATA chunks the origin and the client send.
const CHUNK: usize = 16 * 1024;

/// A request as the H2 origin received it.
#[derive(Clone, Debug, Default)]
pub struct H2Seen {
    /// Number of the TCP connection it came on (from 1).
    pub conn_id: usize,
    pub method: String,
    pub scheme: Option<String>,
    /// `:authority`.
    pub authority: Option<String>,
    /// `:path` (path and query).
    pub path: String,
    /// Regular header fields, in order, names lower case.
    pub headers: Vec<(String, String)>,
    pub trailers: Vec<(String, String)>,
    pub body_len: usize,
    /// `http::checksum` of the body.
    pub body_sum: String,
}

impl H2Seen {
    /// First value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    pub fn trailer(&self, name: &str) -> Option<&str> {
        find(&self.trailers, name)
    }
}

fn find<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What an H2 origin saw, shared between its tasks and the test.
#[derive(Debug, Default)]
pub struct H2State {
    /// TCP connections accepted.
    pub conns: usize,
    /// Requests whose headers arrived.
    pub started: usize,
    /// Completed requests, in completion order.
    pub seen: Vec<H2Seen>,
    /// Numbers of the connections that have ended (closed by either side), in
    /// closing order.
    pub closed: Vec<usize>,
    /// When each connection last sent response headers (the origin's clock, which
    /// a loaded machine cannot skew the way a client thread's wake-up can).
    pub responded: std::collections::HashMap<usize, std::time::Instant>,
}

type Shared = Arc<Mutex<H2State>>;

/// An HTTP/2 origin on 127.0.0.1, served by a current-thread tokio runtime in a
/// background thread. Dropping it stops the listener and drops every connection.
pub struct H2Origin {
    port: u16,
    tls: bool,
    max_streams: u32,
    state: Shared,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl H2Origin {
    /// Clear-text HTTP/2 (prior knowledge, what `server ... proto h2` speaks).
    pub fn start() -> H2Origin {
        H2Origin::launch(false, DEFAULT_MAX_STREAMS)
    }

    /// Clear-text HTTP/2 announcing SETTINGS_MAX_CONCURRENT_STREAMS `max_streams`
    /// (256 for `start`).
    pub fn start_limited(max_streams: u32) -> H2Origin {
        H2Origin::launch(false, max_streams)
    }

    /// HTTP/2 over TLS with ALPN `h2` only and a self-signed certificate for
    /// `origin.test` (`server ... ssl verify none alpn h2`).
    pub fn start_tls() -> H2Origin {
        H2Origin::launch(true, DEFAULT_MAX_STREAMS)
    }

    fn launch(tls: bool, max_streams: u32) -> H2Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind h2 origin");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let acceptor = tls.then(|| {
            let pem = self_signed_pem("origin.test", None);
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .map(|c| c.unwrap())
                    .collect();
            let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
            let mut cfg = rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
            cfg.alpn_protocols = vec![b"h2".to_vec()];
            tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
        });
        let state: Shared = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, stop2) = (state.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(accept_loop(listener, acceptor, max_streams, st, stop2));
            // Dropping the runtime drops every connection task.
        });
        H2Origin {
            port,
            tls,
            max_streams,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The SETTINGS_MAX_CONCURRENT_STREAMS it announces.
    pub fn max_streams(&self) -> u32 {
        self.max_streams
    }

    /// `127.0.0.1:PORT`, ready for a `server` line.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// TCP connections accepted so far.
    pub fn conns(&self) -> usize {
        self.state.lock().unwrap().conns
    }

    /// Requests whose headers arrived so far.
    pub fn started(&self) -> usize {
        self.state.lock().unwrap().started
    }

    /// Requests completed so far.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }

    pub fn seen(&self) -> Vec<H2Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Numbers of the connections that have ended so far, in closing order.
    pub fn closed(&self) -> Vec<usize> {
        self.state.lock().unwrap().closed.clone()
    }

    /// Connections accepted and not ended yet.
    pub fn open(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.conns - s.closed.len()
    }

    /// When each connection last answered (see [`H2State::responded`]).
    pub fn responded(&self) -> std::collections::HashMap<usize, std::time::Instant> {
        self.state.lock().unwrap().responded.clone()
    }

    pub fn last_seen(&self) -> Option<H2Seen> {
        self.state.lock().unwrap().seen.last().cloned()
    }
}

impl Drop for H2Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    max_streams: u32,
    st: Shared,
    stop: Arc<AtomicBool>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    while !stop.load(Ordering::SeqCst) {
        // Short waits so a stop request is seen promptly.
        let Ok(accepted) = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await
        else {
            continue;
        };
        let Ok((sock, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = sock.set_nodelay(true);
        let id = {
            let mut s = st.lock().unwrap();
            s.conns += 1;
            s.conns
        };
        let (st, acceptor) = (st.clone(), acceptor.clone());
        tokio::spawn(async move {
            match acceptor {
                Some(a) => {
                    if let Ok(tls) = a.accept(sock).await {
                        serve_conn(tls, id, max_streams, st.clone()).await;
                    }
                }
                None => serve_conn(sock, id, max_streams, st.clone()).await,
            }
            st.lock().unwrap().closed.push(id);
        });
    }
}

async fn serve_conn<T>(io: T, id: usize, max_streams: u32, st: Shared)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut b = ::h2::server::Builder::new();
    b.max_concurrent_streams(max_streams)
        .initial_window_size(256 * 1024)
        .initial_connection_window_size(1 << 20);
    let Ok(mut conn) = b.handshake::<T, Bytes>(io).await else {
        return;
    };
    // Polling `accept` drives the connection; each stream runs in its own task.
    while let Some(next) = conn.accept().await {
        let Ok((req, respond)) = next else { break };
        tokio::spawn(handle(req, respond, id, st.clone()));
    }
}

/// FNV-1a 64-bit, incrementally; the same digest as `http::checksum`.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf29ce484222325)
    }
    fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Bytes `start .. start + len` of `http::pattern`.
fn pattern_at(start: usize, len: usize) -> Vec<u8> {
    (start..start + len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8).wrapping_mul(7)) as u8)
        .collect()
}

/// The numeric value of `key` in a query string (0 when absent or not a number).
fn query_num(query: &str, key: &str) -> usize {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn header_list(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub(super) fn header_map(list: &[(String, String)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in list {
        m.append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(v).expect("header value"),
        );
    }
    m
}

/// Sends `data` on `s` as the peer's flow-control windows allow, in chunks of at
/// most `CHUNK` bytes; ends the stream after it when `end`.
pub async fn send_all(s: &mut SendStream<Bytes>, mut data: Bytes, end: bool) -> Result<(), String> {
    if data.is_empty() {
        if end {
            s.send_data(Bytes::new(), true).map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        s.reserve_capacity(data.len().min(CHUNK));
        let granted = match poll_fn(|cx| s.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("stream closed while sending".into()),
        };
        if granted == 0 {
            continue;
        }
        let chunk = data.split_to(granted.min(data.len()).min(CHUNK));
        s.send_data(chunk, end && data.is_empty())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn handle(req: Request<RecvStream>, mut respond: SendResponse<Bytes>, id: usize, st: Shared) {
    let (parts, mut body) = req.into_parts();
    let mut seen = H2Seen {
        conn_id: id,
        method: parts.method.to_string(),
        scheme: parts.uri.scheme_str().map(str::to_string),
        authority: parts.uri.authority().map(|a| a.to_string()),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: header_list(&parts.headers),
        ..H2Seen::default()
    };
    st.lock().unwrap().started += 1;
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    if seen
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let _ = respond.send_informational(Response::builder().status(100).body(()).unwrap());
    }
    let base = || {
        st.lock()
            .unwrap()
            .responded
            .insert(id, std::time::Instant::now());
        Response::builder()
            .header("x-origin", "h2")
            .header("x-conn-id", id.to_string())
    };

    if path == "/echo" {
        let mut b = base()
            .status(200)
            .header("x-echo-method", parts.method.as_str());
        if let Some(a) = &seen.authority {
            b = b.header("x-echo-authority", a.as_str());
        }
        for (n, v) in parts.headers.iter() {
            b = b.header(format!("x-echo-{n}"), v);
        }
        let Ok(mut send) = respond.send_response(b.body(()).unwrap(), false) else {
            return;
        };
        let mut sum = Fnv::new();
        loop {
            match body.data().await {
                Some(Ok(chunk)) => {
                    let n = chunk.len();
                    seen.body_len += n;
                    sum.update(&chunk);
                    if send_all(&mut send, chunk, false).await.is_err() {
                        return;
                    }
                    // Only now let the peer send more: the echo is streamed, not buffered.
                    let _ = body.flow_control().release_capacity(n);
                }
                Some(Err(_)) => return,
                None => break,
            }
        }
        seen.body_sum = sum.hex();
        match body.trailers().await {
            Ok(Some(t)) => {
                seen.trailers = header_list(&t);
                let _ = send.send_trailers(t);
            }
            Ok(None) => {
                let _ = send.send_data(Bytes::new(), true);
            }
            Err(_) => return,
        }
        st.lock().unwrap().seen.push(seen);
        return;
    }

    // Every other route reads the whole request body first.
    let mut sum = Fnv::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        seen.body_len += chunk.len();
        sum.update(&chunk);
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    if let Ok(Some(t)) = body.trailers().await {
        seen.trailers = header_list(&t);
    }
    seen.body_sum = sum.hex();
    let (body_len, body_sum) = (seen.body_len.to_string(), seen.body_sum.clone());
    st.lock().unwrap().seen.push(seen);
    let base = || {
        base()
            .header("x-body-len", body_len.as_str())
            .header("x-body-sum", body_sum.as_str())
    };

    let simple = |mut respond: SendResponse<Bytes>, status: u16, text: String| {
        let bodiless = status == 204 || status == 304;
        let resp = base().status(status).body(()).unwrap();
        if let Ok(mut s) = respond.send_response(resp, bodiless) {
            if !bodiless {
                let _ = s.send_data(Bytes::from(text), true);
            }
        }
    };
    match path.as_str() {
        "/big" => {
            let n = query_num(&query, "n");
            let resp = base()
                .status(200)
                .header("content-length", n.to_string())
                .body(())
                .unwrap();
            let Ok(mut s) = respond.send_response(resp, n == 0) else {
                return;
            };
            let mut off = 0;
            while off < n {
                let len = (n - off).min(CHUNK);
                let chunk = Bytes::from(pattern_at(off, len));
                off += len;
                if send_all(&mut s, chunk, off == n).await.is_err() {
                    return;
                }
            }
        }
        "/trailers" => {
            let resp = base().status(200).body(()).unwrap();
            let Ok(mut s) = respond.send_response(resp, false) else {
                return;
            };
            let _ = s.send_data(Bytes::from_static(b"ok"), false);
            let mut t = HeaderMap::new();
            t.insert("grpc-status", "0".parse().unwrap());
            t.insert("x-trailer", "yes".parse().unwrap());
            let _ = s.send_trailers(t);
        }
        "/delay" => {
            let ms = query_num(&query, "ms") as u64;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            simple(respond, 200, "delayed".into());
        }
        p if p.starts_with("/status/") => {
            let code: u16 = p["/status/".len()..].parse().unwrap_or(500);
            simple(respond, code, format!("status {code}"));
        }
        _ => simple(respond, 200, "h2 origin".into()),
    }
}
