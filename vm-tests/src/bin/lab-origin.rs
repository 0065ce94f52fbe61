//! `lab-origin`: the lab's HTTP/1.1 origin and TCP echo server, run inside a server
//! namespace with `ip netns exec`.
//!
//! ```text
//! lab-origin --name NAME [--http ADDR:PORT]… [--echo ADDR:PORT]…
//! ```
//!
//! HTTP answers by path segments, in order: `delay/MS` sleeps MS ms, `size/N`
//! answers N pattern bytes, `echo` answers `len=N sum=HEX` of the request body,
//! `status/CODE` sets the status; otherwise the body is `NAME\n`. Every response
//! carries `x-served-by: NAME` and `x-body-len`/`x-body-sum` of the request body.
//! `Expect: 100-continue` gets `100 Continue`. Keep-alive unless the request says
//! `connection: close`. One thread per connection; every socket has I/O timeouts.
//! The echo listener copies bytes back until the peer half-closes.

use std::io::{BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;
use vm_tests::http::{self, Framing};

const IO_TIMEOUT: Duration = Duration::from_secs(60);
const STACK: usize = 256 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut name = "origin".to_string();
    let mut http_addrs = Vec::new();
    let mut echo_addrs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().unwrap_or_else(|| usage(a)).clone();
        match a.as_str() {
            "--name" => name = v,
            "--http" => http_addrs.push(v),
            "--echo" => echo_addrs.push(v),
            _ => usage(a),
        }
    }
    // One descriptor per connection the appliance opens (thousands in the scale test).
    vm_tests::sys::raise_nofile(65536);
    let mut joins = Vec::new();
    for a in http_addrs {
        let l = TcpListener::bind(&a).unwrap_or_else(|e| die(&format!("bind {a}: {e}")));
        let _ = vm_tests::sys::set_backlog(&l, 4096);
        let name = name.clone();
        joins.push(thread::spawn(move || {
            accept_loop(l, move |s| serve_http(s, &name))
        }));
    }
    for a in echo_addrs {
        let l = TcpListener::bind(&a).unwrap_or_else(|e| die(&format!("bind {a}: {e}")));
        let _ = vm_tests::sys::set_backlog(&l, 4096);
        joins.push(thread::spawn(move || accept_loop(l, serve_echo)));
    }
    eprintln!("lab-origin {name}: ready");
    for j in joins {
        let _ = j.join();
    }
}

fn usage(arg: &str) -> ! {
    die(&format!(
        "bad argument {arg:?}; usage: lab-origin --name NAME [--http ADDR:PORT]... [--echo ADDR:PORT]..."
    ))
}

fn die(msg: &str) -> ! {
    eprintln!("lab-origin: {msg}");
    std::process::exit(2)
}

fn accept_loop(l: TcpListener, serve: impl Fn(TcpStream) + Clone + Send + 'static) {
    loop {
        match l.accept() {
            Ok((s, _)) => {
                let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                let _ = s.set_nodelay(true);
                let serve = serve.clone();
                let spawned = thread::Builder::new()
                    .stack_size(STACK)
                    .spawn(move || serve(s));
                if let Err(e) = spawned {
                    eprintln!("lab-origin: thread: {e}");
                }
            }
            Err(e) => {
                eprintln!("lab-origin: accept: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn serve_echo(s: TcpStream) {
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = s;
    let _ = std::io::copy(&mut r, &mut w);
    let _ = w.shutdown(Shutdown::Write);
}

fn serve_http(s: TcpStream, name: &str) {
    let Ok(w) = s.try_clone() else { return };
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut w = BufWriter::with_capacity(64 * 1024, w);
    while let Ok(true) = one_request(&mut r, &mut w, name) {}
}

/// Serves one request; `Ok(true)` to keep the connection.
fn one_request(
    r: &mut BufReader<TcpStream>,
    w: &mut BufWriter<TcpStream>,
    name: &str,
) -> std::io::Result<bool> {
    let Some(head) = http::read_head(r)? else {
        return Ok(false);
    };
    let mut parts = head.start.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    if head
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    let framing = if head.chunked() {
        Framing::Chunked
    } else {
        head.content_length().map_or(Framing::None, Framing::Length)
    };
    let body = http::read_body_sum(r, framing)?;

    let mut status = 200u16;
    let mut size: Option<u64> = None;
    let mut echo = false;
    let path = target.split('?').next().unwrap_or("");
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    while let Some(seg) = segs.next() {
        match seg {
            "delay" => {
                let ms = segs.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                thread::sleep(Duration::from_millis(ms));
            }
            "size" => size = segs.next().and_then(|v| v.parse().ok()),
            "status" => status = segs.next().and_then(|v| v.parse().ok()).unwrap_or(200),
            "echo" => echo = true,
            _ => {}
        }
    }
    let small = if echo {
        format!("{}\n", body.sum.line())
    } else {
        format!("{name}\n")
    };
    let len = size.unwrap_or(small.len() as u64);
    let keep = !head.close() && !head.start.ends_with("HTTP/1.0");
    let head_out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\nx-served-by: {name}\r\nx-body-len: {}\r\nx-body-sum: {}\r\n{}\r\n",
        body.sum.len(),
        body.sum.hex(),
        if keep { "" } else { "connection: close\r\n" }
    );
    w.write_all(head_out.as_bytes())?;
    if method != "HEAD" {
        match size {
            Some(n) => http::write_pattern(w, n)?,
            None => w.write_all(small.as_bytes())?,
        }
    }
    w.flush()?;
    Ok(keep)
}
