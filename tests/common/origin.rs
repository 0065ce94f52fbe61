//! Test origins: an HTTP/1.1 server with selectable behaviours and a TCP echo server.
//!
//! The HTTP origin answers by path, segment by segment, so one server covers most needs:
//!
//! | path                 | answer                                                       |
//! |----------------------|--------------------------------------------------------------|
//! | `/delay/MS/...`      | sleeps MS milliseconds, then goes on with the rest           |
//! | `/size/N`            | 200 with an N-byte `pattern` body, content-length            |
//! | `/chunked/N`         | 200 with an N-byte `pattern` body, chunked                   |
//! | `/echo`              | 200, body lists method, target, headers, body length + sum   |
//! | `/trailers`          | 200 chunked, body `ok`, trailers `grpc-status: 0`, `x-trailer: yes` |
//! | `/status/CODE`       | that status (no body for 1xx/204/304)                        |
//! | `/close`             | 200 with `connection: close`, then closes                    |
//! | `/noanswer`          | closes without answering                                     |
//! | `/bad`               | a malformed response                                         |
//! | `Upgrade` header     | 101, then echoes raw bytes both ways                         |
//! | anything else        | 200, body is the server name                                 |
//!
//! A request with `Expect: 100-continue` gets `100 Continue` before its body is read.
//! Every response carries `x-served-by`, `x-conn-id` (per-origin connection number),
//! `x-req-no` (request number on that connection), `x-target` (request target as
//! received), `x-body-len` and `x-body-sum`.

use super::http::{self, Head};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// I/O timeout on origin sockets: nothing in a test waits longer than this.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// What an origin does with every connection, whatever the path.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Answer by path (see module docs).
    Normal,
    /// Accept and close at once, without reading.
    CloseOnAccept,
    /// Read a request head, then close without answering.
    CloseAfterRequest,
    /// Read a request head, then write these raw bytes and close.
    Raw(Vec<u8>),
    /// Answer by path, but close a connection that stays idle after a response
    /// (waiting for its next request) longer than a delay drawn anew, per wait, in
    /// `min_ms..=max_ms` (0 closes at once after a response). A new connection
    /// waits for its first request as usual.
    IdleClose { min_ms: u64, max_ms: u64 },
}

/// A request as the origin received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub version: String,
    pub head: Head,
    pub body_len: usize,
    pub body_sum: String,
    pub conn_id: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// Counters and records shared by an origin's threads.
#[derive(Default)]
pub struct Stats {
    pub conns: AtomicUsize,
    /// Connections the origin closed because they stayed idle (`IdleClose`).
    pub idle_closed: AtomicUsize,
    pub requests: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub seen: Mutex<Vec<Seen>>,
    /// When non-zero, every request is answered with this status (health tests).
    pub forced_status: AtomicU16,
}

pub struct Origin {
    pub name: String,
    port: u16,
    behaviour: Behaviour,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Origin {
    /// A normal origin named `name` on a free loopback port.
    pub fn start(name: &str) -> Origin {
        Origin::with_behaviour(name, Behaviour::Normal)
    }

    pub fn with_behaviour(name: &str, behaviour: Behaviour) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
        let port = listener.local_addr().unwrap().port();
        let mut o = Origin {
            name: name.to_string(),
            port,
            behaviour,
            stats: Arc::new(Stats::default()),
            stop: Arc::new(AtomicBool::new(false)),
            accept: None,
        };
        o.spawn(listener);
        o
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, ready for a `server` line.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn conns(&self) -> usize {
        self.stats.conns.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// Connections closed for staying idle (`Behaviour::IdleClose`).
    pub fn idle_closed(&self) -> usize {
        self.stats.idle_closed.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.stats.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.stats.seen.lock().unwrap().clone()
    }

    pub fn last_seen(&self) -> Option<Seen> {
        self.stats.seen.lock().unwrap().last().cloned()
    }

    /// Answer every request with `status` (0 returns to normal answers).
    pub fn force_status(&self, status: u16) {
        self.stats.forced_status.store(status, Ordering::SeqCst);
    }

    /// Stop listening: new connections are refused until `resume`.
    pub fn pause(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }

    /// Listen again on the same port.
    pub fn resume(&mut self) {
        assert!(self.accept.is_none(), "origin not paused");
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind origin");
        self.stop = Arc::new(AtomicBool::new(false));
        self.spawn(listener);
    }

    fn spawn(&mut self, listener: TcpListener) {
        let stop = self.stop.clone();
        let stats = self.stats.clone();
        let name = self.name.clone();
        let behaviour = self.behaviour.clone();
        self.accept = Some(thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let id = stats.conns.fetch_add(1, Ordering::SeqCst) + 1;
                let (stats, name, behaviour) = (stats.clone(), name.clone(), behaviour.clone());
                thread::spawn(move || serve(conn, id, &name, &behaviour, &stats));
            }
        }));
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.pause();
        }
    }
}

struct InFlight<'a>(&'a Stats);

impl<'a> InFlight<'a> {
    fn enter(stats: &'a Stats) -> Self {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(conn: TcpStream, id: usize, name: &str, behaviour: &Behaviour, stats: &Stats) {
    if let Behaviour::CloseOnAccept = behaviour {
        return;
    }
    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
    let _ = conn.set_nodelay(true);
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut rd = BufReader::new(conn);
    let mut req_no = 0usize;
    let mut seed = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    loop {
        // Idle: between requests (a new connection waits for its first one).
        if let (Behaviour::IdleClose { min_ms, max_ms }, 1..) = (behaviour, req_no) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let wait = min_ms + seed % (max_ms - min_ms + 1);
            match wait_request(&mut rd, Duration::from_millis(wait)) {
                Wait::Request => {}
                Wait::PeerClosed => return,
                Wait::Idle => {
                    stats.idle_closed.fetch_add(1, Ordering::SeqCst);
                    let _ = out.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        let head = match http::read_head(&mut rd) {
            Ok(Some(h)) => h,
            _ => return,
        };
        if head.has_token("expect", "100-continue")
            && out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        let body = match http::read_body(&mut rd, http::request_framing(&head)) {
            Ok(b) => b,
            Err(_) => return,
        };
        req_no += 1;
        stats.requests.fetch_add(1, Ordering::SeqCst);
        let flight = InFlight::enter(stats);
        let mut parts = head.start.split_whitespace();
        let seen = Seen {
            method: parts.next().unwrap_or("").to_string(),
            target: parts.next().unwrap_or("").to_string(),
            version: parts.next().unwrap_or("").to_string(),
            head: head.clone(),
            body_len: body.len(),
            body_sum: http::checksum(&body),
            conn_id: id,
        };
        stats.seen.lock().unwrap().push(seen.clone());
        match behaviour {
            Behaviour::CloseAfterRequest => return,
            Behaviour::Raw(bytes) => {
                let _ = out.write_all(bytes);
                let _ = out.flush();
                // Let the peer read before the close turns into a reset.
                thread::sleep(Duration::from_millis(50));
                return;
            }
            _ => {}
        }
        match answer(&mut out, &mut rd, &seen, req_no, name, stats, flight) {
            Next::KeepAlive => {}
            Next::Close => {
                let _ = out.flush();
                let _ = out.shutdown(Shutdown::Write);
                // Drain what is left so the close is not a reset.
                let mut sink = [0u8; 4096];
                let _ = out.set_read_timeout(Some(Duration::from_millis(200)));
                while matches!(rd.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
            Next::Abort => return,
        }
    }
}

/// What came while an `IdleClose` connection waited for its next request.
enum Wait {
    Request,
    PeerClosed,
    Idle,
}

/// Waits up to `wait` (0: no waiting) for the first byte of the next request.
fn wait_request(rd: &mut BufReader<TcpStream>, wait: Duration) -> Wait {
    use std::io::BufRead;
    if !rd.buffer().is_empty() {
        return Wait::Request;
    }
    if wait.is_zero() {
        let _ = rd.get_ref().set_nonblocking(true);
    } else {
        let _ = rd.get_ref().set_read_timeout(Some(wait));
    }
    let r = match rd.fill_buf() {
        Ok([]) => Wait::PeerClosed,
        Ok(_) => Wait::Request,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Wait::Idle
        }
        Err(_) => Wait::PeerClosed,
    };
    let _ = rd.get_ref().set_nonblocking(false);
    let _ = rd.get_ref().set_read_timeout(Some(IO_TIMEOUT));
    r
}

enum Next {
    KeepAlive,
    Close,
    Abort,
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

fn answer(
    out: &mut TcpStream,
    rd: &mut BufReader<TcpStream>,
    req: &Seen,
    req_no: usize,
    name: &str,
    stats: &Stats,
    flight: InFlight,
) -> Next {
    let wants_close = req.head.has_token("connection", "close")
        || (req.version == "HTTP/1.0" && !req.head.has_token("connection", "keep-alive"));
    let conn_hdr = if wants_close {
        "connection: close\r\n"
    } else if req.version == "HTTP/1.0" {
        "connection: keep-alive\r\n"
    } else {
        ""
    };
    let common = format!(
        "x-served-by: {name}\r\nx-conn-id: {}\r\nx-req-no: {req_no}\r\nx-target: {}\r\nx-body-len: {}\r\nx-body-sum: {}\r\n{conn_hdr}",
        req.conn_id, req.target, req.body_len, req.body_sum
    );
    let head_only = req.method.eq_ignore_ascii_case("HEAD");
    let forced = stats.forced_status.load(Ordering::SeqCst);
    let path = req.target.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut i = 0;
    while i < segs.len() && segs[i] == "delay" {
        let ms: u64 = segs.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(0);
        thread::sleep(Duration::from_millis(ms));
        i += 2;
    }
    let rest = &segs[i.min(segs.len())..];
    let num = |k: usize| -> usize { rest.get(k).and_then(|s| s.parse().ok()).unwrap_or(0) };

    let send = |out: &mut TcpStream, status: u16, extra: &str, body: &[u8]| -> bool {
        let mut msg = format!("HTTP/1.1 {status} {}\r\n{common}{extra}", reason(status));
        let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
        if !bodiless {
            msg.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        msg.push_str("\r\n");
        let mut bytes = msg.into_bytes();
        if !bodiless && !head_only {
            bytes.extend_from_slice(body);
        }
        out.write_all(&bytes).is_ok()
    };
    let done = |ok: bool| {
        if !ok {
            Next::Abort
        } else if wants_close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    };

    // The request stops counting as in flight before its answer is written: once the
    // proxy has the answer it may send the next request, perhaps on another
    // connection, before this thread gets to run again.
    drop(flight);

    if forced != 0 {
        return done(send(out, forced, "", name.as_bytes()));
    }
    if req.head.header("upgrade").is_some() {
        let proto = req
            .head
            .header("upgrade")
            .unwrap_or("websocket")
            .to_string();
        let accept = req
            .head
            .header("sec-websocket-key")
            .map(|k| format!("sec-websocket-accept: {}\r\n", http::websocket_accept(k)))
            .unwrap_or_default();
        let msg = format!(
            "HTTP/1.1 101 Switching Protocols\r\n{common}upgrade: {proto}\r\nconnection: upgrade\r\n{accept}\r\n"
        );
        if out.write_all(msg.as_bytes()).is_err() {
            return Next::Abort;
        }
        let mut buf = [0u8; 16384];
        loop {
            match rd.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = out.shutdown(Shutdown::Write);
                    return Next::Abort;
                }
                Ok(n) => {
                    if out.write_all(&buf[..n]).is_err() {
                        return Next::Abort;
                    }
                }
            }
        }
    }
    match rest.first().copied() {
        Some("size") => done(send(out, 200, "", &http::pattern(num(1)))),
        Some("chunked") => {
            let data = http::pattern(num(1));
            let mut msg = format!("HTTP/1.1 200 OK\r\n{common}transfer-encoding: chunked\r\n\r\n")
                .into_bytes();
            if !head_only {
                for c in data.chunks(65536) {
                    msg.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    msg.extend_from_slice(c);
                    msg.extend_from_slice(b"\r\n");
                }
                msg.extend_from_slice(b"0\r\n\r\n");
            }
            done(out.write_all(&msg).is_ok())
        }
        Some("echo") => {
            let mut b = format!(
                "method: {}\ntarget: {}\nversion: {}\n",
                req.method, req.target, req.version
            );
            for (n, v) in &req.head.headers {
                b.push_str(&format!("header: {n}: {v}\n"));
            }
            b.push_str(&format!(
                "body-len: {}\nbody-sum: {}\n",
                req.body_len, req.body_sum
            ));
            done(send(out, 200, "content-type: text/plain\r\n", b.as_bytes()))
        }
        Some("trailers") => {
            let mut msg = format!(
                "HTTP/1.1 200 OK\r\n{common}transfer-encoding: chunked\r\ntrailer: grpc-status, x-trailer\r\n\r\n"
            );
            if !head_only {
                msg.push_str("2\r\nok\r\n0\r\ngrpc-status: 0\r\nx-trailer: yes\r\n\r\n");
            }
            done(out.write_all(msg.as_bytes()).is_ok())
        }
        Some("status") => done(send(out, num(1) as u16, "", name.as_bytes())),
        Some("close") => {
            let ok = send(
                out,
                200,
                if wants_close {
                    ""
                } else {
                    "connection: close\r\n"
                },
                name.as_bytes(),
            );
            let _ = out.flush();
            if ok {
                Next::Close
            } else {
                Next::Abort
            }
        }
        Some("noanswer") => Next::Abort,
        Some("bad") => {
            let _ = out.write_all(b"HTTP/1.1 abc Broken\r\nbad header line\r\n\r\n");
            Next::Close
        }
        _ => done(send(out, 200, "", name.as_bytes())),
    }
}

/// A TCP echo server: echoes every byte; on the client's half-close it finishes sending
/// and half-closes too.
pub struct TcpEcho {
    port: u16,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TcpEcho {
    pub fn start() -> TcpEcho {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo");
        let port = listener.local_addr().unwrap().port();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (stats.clone(), stop.clone());
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if st2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                s2.conns.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
                    let mut buf = [0u8; 65536];
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) => {
                                let _ = conn.shutdown(Shutdown::Write);
                                return;
                            }
                            Ok(n) => {
                                if conn.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                            Err(_) => return,
                        }
                    }
                });
            }
        });
        TcpEcho {
            port,
            stats,
            stop,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn conns(&self) -> usize {
        self.stats.conns.load(Ordering::SeqCst)
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}
