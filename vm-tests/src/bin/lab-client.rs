//! `lab-client`: the lab's Rust client, run inside a client namespace with
//! `ip netns exec`. One line of output per result, parsed by the tests.
//!
//! ```text
//! lab-client get  ADDR:PORT PATH COUNT   COUNT requests on one keep-alive connection
//!                                        → per response: STATUS SERVED_BY len=N sum=HEX conn=C ms=T
//! lab-client post ADDR:PORT PATH SIZE    POST SIZE pattern bytes → STATUS SERVED_BY BODY ms=T
//! lab-client many ADDR:PORT PATH N       opens N connections, then sends a request on
//!                                        each, then reads every answer
//!                                        → opened=N answered=K errors=E statuses=CODE:K,… ms=T
//! lab-client echo ADDR:PORT SIZE         sends SIZE pattern bytes, half-closes, reads to
//!                                        the end → len=N sum=HEX ms=T
//! ```
//!
//! Every socket has connect (10 s, or `LAB_CONNECT_TIMEOUT_MS`) and I/O timeouts; an I/O error prints `ERR <what>` and
//! exits 1.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use vm_tests::http;
use vm_tests::pattern::Sum;

/// Default connect timeout; `LAB_CONNECT_TIMEOUT_MS` overrides it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = match a.as_slice() {
        ["get", addr, path, n] => get(addr, path, n.parse().unwrap_or(1)),
        ["post", addr, path, size] => post(addr, path, size.parse().unwrap_or(0)),
        ["many", addr, path, n] => many(addr, path, n.parse().unwrap_or(1)),
        ["echo", addr, size] => echo(addr, size.parse().unwrap_or(0)),
        _ => {
            eprintln!("usage: lab-client get|post|many|echo ADDR:PORT ... (see source)");
            std::process::exit(2)
        }
    };
    if let Err(e) = r {
        println!("ERR {e}");
        std::process::exit(1);
    }
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let sa: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let limit = std::env::var("LAB_CONNECT_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(CONNECT_TIMEOUT, Duration::from_millis);
    let s = TcpStream::connect_timeout(&sa, limit)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn ms(t: Instant) -> u128 {
    t.elapsed().as_millis()
}

fn get(addr: &str, path: &str, n: usize) -> std::io::Result<()> {
    let mut conns = 0;
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    for _ in 0..n {
        let t = Instant::now();
        if conn.is_none() {
            let s = connect(addr)?;
            let r = BufReader::with_capacity(64 * 1024, s.try_clone()?);
            conns += 1;
            conn = Some((s, r));
        }
        let (s, r) = conn.as_mut().expect("connected");
        write!(s, "GET {path} HTTP/1.1\r\nhost: lab\r\n\r\n")?;
        let resp = http::read_response(r, "GET")?;
        println!(
            "{} {} {} conn={conns} ms={}",
            resp.status,
            resp.head.header("x-served-by").unwrap_or("-"),
            resp.body.sum.line(),
            ms(t)
        );
        if resp.head.close() {
            conn = None;
        }
    }
    Ok(())
}

fn post(addr: &str, path: &str, size: u64) -> std::io::Result<()> {
    let t = Instant::now();
    let mut s = connect(addr)?;
    let mut r = BufReader::with_capacity(64 * 1024, s.try_clone()?);
    // Write the body from a thread: the server may answer before it has read it all.
    let mut w = s.try_clone()?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: lab\r\ncontent-type: application/octet-stream\r\ncontent-length: {size}\r\n\r\n"
    );
    s.write_all(head.as_bytes())?;
    let writer = std::thread::spawn(move || http::write_pattern(&mut w, size));
    let resp = http::read_response(&mut r, "POST")?;
    let written = writer.join().expect("writer thread");
    println!(
        "{} {} {} ms={}{}",
        resp.status,
        resp.head.header("x-served-by").unwrap_or("-"),
        resp.body.text().replace('\n', " "),
        ms(t),
        match written {
            Ok(()) => String::new(),
            Err(e) => format!(" write_error={e}"),
        }
    );
    Ok(())
}

fn many(addr: &str, path: &str, n: usize) -> std::io::Result<()> {
    vm_tests::sys::raise_nofile(n as u64 + 100);
    let t = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(connect(addr)?);
    }
    let opened = conns.len();
    let connect_ms = ms(t);
    let req = format!("GET {path} HTTP/1.1\r\nhost: lab\r\n\r\n");
    for s in conns.iter_mut() {
        s.write_all(req.as_bytes())?;
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut errors = 0;
    let mut first_error = String::new();
    for s in conns.iter() {
        let mut r = BufReader::new(s);
        match http::read_response(&mut r, "GET") {
            Ok(resp) => *statuses.entry(resp.status).or_default() += 1,
            Err(e) => {
                errors += 1;
                if first_error.is_empty() {
                    first_error = e.to_string();
                }
            }
        }
    }
    let answered: usize = statuses.values().sum();
    let st: Vec<String> = statuses.iter().map(|(c, k)| format!("{c}:{k}")).collect();
    println!(
        "opened={opened} answered={answered} errors={errors} statuses={} connect_ms={connect_ms} ms={}{}",
        st.join(","),
        ms(t),
        if first_error.is_empty() {
            String::new()
        } else {
            format!(" first_error={first_error:?}")
        }
    );
    Ok(())
}

fn echo(addr: &str, size: u64) -> std::io::Result<()> {
    let t = Instant::now();
    let s = connect(addr)?;
    let mut w = s.try_clone()?;
    let writer = std::thread::spawn(move || {
        let r = http::write_pattern(&mut w, size);
        let _ = w.shutdown(Shutdown::Write);
        r
    });
    let mut sum = Sum::new();
    let mut r = BufReader::new(s);
    http::read_body(&mut r, http::Framing::UntilClose, &mut |d| sum.update(d))?;
    writer.join().expect("writer thread")?;
    println!("{} ms={}", sum.line(), ms(t));
    Ok(())
}
