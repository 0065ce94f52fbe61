//! A small HTTP/1.1 client over `TcpStream`, and helpers to run `curl`.

use super::http::{self, Head};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// I/O timeout on client sockets: nothing in a test waits longer than this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// One HTTP response as received.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `x-served-by` header the test origin puts on every answer.
    pub fn served_by(&self) -> String {
        self.header("x-served-by").unwrap_or("").to_string()
    }
}

/// A client connection that keeps its read buffer across responses (keep-alive,
/// pipelining).
pub struct Conn {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        Conn::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    pub fn try_connect(port: u16) -> io::Result<Conn> {
        let s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), IO_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            wr: s.try_clone()?,
            rd: BufReader::new(s),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        &self.wr
    }

    pub fn set_read_timeout(&self, d: Duration) {
        self.wr.set_read_timeout(Some(d)).unwrap();
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wr.write_all(bytes)?;
        self.wr.flush()
    }

    pub fn shutdown_write(&self) {
        let _ = self.wr.shutdown(Shutdown::Write);
    }

    /// Reads one response, including a 1xx one, to a request with `method`.
    pub fn read_response(&mut self, method: &str) -> io::Result<Response> {
        let head = http::read_head(&mut self.rd)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response")
        })?;
        let body = http::read_body(&mut self.rd, http::response_framing(&head, method))?;
        Ok(Response {
            status: http::status_of(&head.start),
            head,
            body,
        })
    }

    /// Reads one final response, skipping `100 Continue` and other non-101 1xx.
    pub fn read_final(&mut self, method: &str) -> io::Result<Response> {
        loop {
            let r = self.read_response(method)?;
            if r.status >= 200 || r.status == 101 {
                return Ok(r);
            }
        }
    }

    /// Sends a request (`host: test` added unless `headers` has one) and reads the answer.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let bytes = build_request(method, target, headers, body);
        self.send(&bytes)?;
        self.read_final(method)
    }

    pub fn get(&mut self, target: &str) -> io::Result<Response> {
        self.request("GET", target, &[], b"")
    }

    /// Reads raw bytes until the peer closes or `limit` elapses.
    pub fn read_to_close(&mut self, limit: Duration) -> Vec<u8> {
        let _ = self.wr.set_read_timeout(Some(limit));
        let mut out = Vec::new();
        let _ = self.rd.read_to_end(&mut out);
        out
    }

    /// True if the peer closes the connection within `limit` (EOF or reset, no data).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.wr.set_read_timeout(Some(left));
            match self.rd.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    /// Reads whatever raw bytes follow (after an upgrade), exactly `n` of them.
    pub fn read_exact_raw(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0u8; n];
        self.rd.read_exact(&mut v)?;
        Ok(v)
    }
}

/// Serialises a request. Adds `host: test` unless given and `content-length` when a
/// body is present and no framing header is given.
pub fn build_request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut s = format!("{method} {target} HTTP/1.1\r\n");
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    if !has("host") {
        s.push_str("host: test\r\n");
    }
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        s.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut v = s.into_bytes();
    v.extend_from_slice(body);
    v
}

/// Encodes `body` as chunks of `size` bytes.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + body.len() / size * 10 + 8);
    for c in body.chunks(size) {
        v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        v.extend_from_slice(c);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

/// One request on a fresh connection.
pub fn get(port: u16, target: &str) -> Response {
    Conn::connect(port)
        .get(target)
        .unwrap_or_else(|e| panic!("GET {target} on port {port}: {e}"))
}

/// One request with `connection: close` on a fresh connection; returns once the proxy
/// has closed the connection, so the proxy no longer counts it as active.
pub fn get_closed(port: u16, target: &str) -> Response {
    let mut c = Conn::connect(port);
    let r = c
        .request("GET", target, &[("connection", "close")], b"")
        .unwrap_or_else(|e| panic!("GET {target} on port {port}: {e}"));
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "connection: close not honoured"
    );
    r
}

/// One request with extra headers on a fresh connection.
pub fn get_with(port: u16, target: &str, headers: &[(&str, &str)]) -> Response {
    Conn::connect(port)
        .request("GET", target, headers, b"")
        .unwrap_or_else(|e| panic!("GET {target} on port {port}: {e}"))
}

/// Sends raw bytes on a fresh connection, half-closes nothing, reads one response.
pub fn raw(port: u16, bytes: &[u8]) -> io::Result<Response> {
    let mut c = Conn::connect(port);
    c.send(bytes)?;
    c.read_final("GET")
}

/// Result of a `curl` run.
pub struct CurlOut {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl CurlOut {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// True if `curl` can be run; prints `skipped: curl not installed` if not.
pub fn have_curl() -> bool {
    have("curl")
}

/// True if `tool` is on PATH; prints `skipped: <tool> not installed` if not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        println!("skipped: {tool} not installed");
    }
    ok
}

/// Runs `curl -sS --max-time 15 ARGS...`, bounded.
pub fn curl(args: &[&str]) -> CurlOut {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "15"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    CurlOut {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
