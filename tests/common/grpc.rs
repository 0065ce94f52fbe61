//! gRPC end to end with a real implementation: Debian's `python3-grpcio` run by the
//! system interpreter. A Python server (generic handlers, raw bytes, no generated
//! stubs) is the origin; a Python client calls it through the proxy and prints one
//! `key value` line per result for the Rust test to check.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The system interpreter (the one Debian's python3-grpcio installs into).
pub const PYTHON: &str = "/usr/bin/python3";

/// True when the system Python can import grpc.
pub fn have_grpc() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import grpc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The service `sluice.Test`, served on 127.0.0.1 at an ephemeral port printed as
/// `READY <port>`. Messages are raw bytes (no protobuf).
pub const SERVER_PY: &str = r#"
import sys
from concurrent import futures
import grpc

MIB = 1024 * 1024
OPTS = [("grpc.max_receive_message_length", 16 * MIB),
        ("grpc.max_send_message_length", 16 * MIB)]

def pattern(n):
    # Bytes 0..250 repeated: a shifted or truncated copy does not match.
    return (bytes(range(251)) * (n // 251 + 1))[:n]

def unary(req, ctx):
    ctx.set_trailing_metadata((("x-trailer", "yes"),))
    return b"echo:" + req

def server_stream(req, ctx):
    for i in range(int(req.decode())):
        yield b"msg-%d" % i

def bidi(reqs, ctx):
    for r in reqs:
        yield b"re:" + r

def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such item: " + req.decode())

def big(req, ctx):
    return pattern(int(req.decode()))

def upload(req, ctx):
    ok = req == pattern(len(req))
    return b"%d %s" % (len(req), b"intact" if ok else b"corrupt")

handlers = grpc.method_handlers_generic_handler("sluice.Test", {
    "Unary": grpc.unary_unary_rpc_method_handler(unary),
    "Stream": grpc.unary_stream_rpc_method_handler(server_stream),
    "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    "Fail": grpc.unary_unary_rpc_method_handler(fail),
    "Big": grpc.unary_unary_rpc_method_handler(big),
    "Upload": grpc.unary_unary_rpc_method_handler(upload),
})

server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=OPTS)
server.add_generic_rpc_handlers((handlers,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print("READY %d" % port, flush=True)
# Bounded: a server left behind by a crashed test goes away by itself.
server.wait_for_termination(timeout=float(sys.argv[1]) if len(sys.argv) > 1 else 120.0)
"#;

/// Calls every method of `sluice.Test` at argv[1] (`insecure` or `tls <ca> <name>`
/// after it) and prints `key value` lines; exits 0 when it got that far.
pub const CLIENT_PY: &str = r#"
import sys
import grpc

MIB = 1024 * 1024
target, mode = sys.argv[1], sys.argv[2]
opts = [("grpc.max_receive_message_length", 16 * MIB),
        ("grpc.max_send_message_length", 16 * MIB),
        ("grpc.enable_http_proxy", 0)]
if mode == "tls":
    ca, name = sys.argv[3], sys.argv[4]
    with open(ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    opts.append(("grpc.ssl_target_name_override", name))
    channel = grpc.secure_channel(target, creds, options=opts)
else:
    channel = grpc.insecure_channel(target, options=opts)

T = 15

def out(k, v):
    print("%s %s" % (k, v), flush=True)

def pattern(n):
    return (bytes(range(251)) * (n // 251 + 1))[:n]

def run(name, f):
    try:
        f()
    except grpc.RpcError as e:
        out(name + ".code", e.code().name)
        out(name + ".details", e.details())
        for k, v in (e.trailing_metadata() or ()):
            out(name + ".trailer." + k, v)

def unary():
    reply, call = channel.unary_unary("/sluice.Test/Unary").with_call(b"hello grpc", timeout=T)
    out("unary.code", call.code().name)
    out("unary.reply", reply.decode())
    for k, v in call.trailing_metadata():
        out("unary.trailer." + k, v)

def stream():
    call = channel.unary_stream("/sluice.Test/Stream")(b"100", timeout=T)
    msgs = [m.decode() for m in call]
    out("stream.code", call.code().name)
    out("stream.count", len(msgs))
    out("stream.inorder", msgs == ["msg-%d" % i for i in range(100)])

def bidi():
    reqs = iter([b"r%d" % i for i in range(20)])
    call = channel.stream_stream("/sluice.Test/Bidi")(reqs, timeout=T)
    msgs = [m.decode() for m in call]
    out("bidi.code", call.code().name)
    out("bidi.count", len(msgs))
    out("bidi.inorder", msgs == ["re:r%d" % i for i in range(20)])

def fail():
    channel.unary_unary("/sluice.Test/Fail")(b"abc", timeout=T)
    out("fail.code", "OK")

def big():
    n = 4 * MIB
    reply, call = channel.unary_unary("/sluice.Test/Big").with_call(b"%d" % n, timeout=T)
    out("big.code", call.code().name)
    out("big.len", len(reply))
    out("big.intact", reply == pattern(n))

def upload():
    reply, call = channel.unary_unary("/sluice.Test/Upload").with_call(pattern(4 * MIB), timeout=T)
    out("upload.code", call.code().name)
    out("upload.reply", reply.decode())

for name, f in (("unary", unary), ("stream", stream), ("bidi", bidi), ("fail", fail),
                ("big", big), ("upload", upload)):
    run(name, f)
out("done", "yes")
"#;

/// A running Python gRPC server, killed (by its pid) on drop.
pub struct GrpcServer {
    child: Child,
    pub port: u16,
}

impl GrpcServer {
    /// Writes the script into `dir`, starts it and waits (bounded) for its ready line.
    pub fn start(dir: &Path) -> GrpcServer {
        let script = dir.join("grpc_server.py");
        std::fs::write(&script, SERVER_PY).unwrap();
        let mut child = python()
            .arg(&script)
            .arg("120")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the python gRPC server");
        let stdout = child.stdout.take().unwrap();
        let mut server = GrpcServer { child, port: 0 };
        match ready_line(stdout, Duration::from_secs(20)) {
            Some(line) => {
                server.port = line
                    .strip_prefix("READY ")
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or_else(|| panic!("bad ready line {line:?}"));
            }
            None => panic!("python gRPC server did not print READY within 20 s"),
        }
        server
    }

    /// `127.0.0.1:PORT`, ready for a `server` line.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line of `stdout`, or None after `limit` (the reader thread keeps
/// draining the pipe so the server never blocks on it).
fn ready_line(stdout: ChildStdout, limit: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        for _ in lines {}
    });
    rx.recv_timeout(limit).ok()
}

/// The system interpreter with a clean proxy environment.
fn python() -> Command {
    let mut c = Command::new(PYTHON);
    for v in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "grpc_proxy",
        "all_proxy",
        "ALL_PROXY",
    ] {
        c.env_remove(v);
    }
    c.env("no_grpc_proxy", "*");
    c
}

/// What the client printed.
pub struct ClientRun {
    pub status: Option<i32>,
    pub values: HashMap<String, String>,
    pub stdout: String,
    pub stderr: String,
}

impl ClientRun {
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(|s| s.as_str()).unwrap_or("")
    }
}

/// Runs the client script against `target` with `args` after it (`insecure`, or
/// `tls <ca> <name>`), killed after `limit`.
pub fn run_client(dir: &Path, target: &str, args: &[&str], limit: Duration) -> ClientRun {
    let script: PathBuf = dir.join("grpc_client.py");
    std::fs::write(&script, CLIENT_PY).unwrap();
    let (o, e) = (dir.join("client.out"), dir.join("client.err"));
    let mut child = python()
        .arg(&script)
        .arg(target)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .expect("spawn the python gRPC client");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&o).unwrap_or_default();
    let stderr = std::fs::read_to_string(&e).unwrap_or_default();
    let values = stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClientRun {
        status,
        values,
        stdout,
        stderr,
    }
}
