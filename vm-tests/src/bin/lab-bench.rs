//! `lab-bench`: sluice in poll mode (AF_PACKET), sluice in epoll mode and HAProxy
//! (kernel sockets) in the same lab topology, in the same run: requests/s and proxy
//! CPU-µs per request for HTTP/1.1 keep-alive with small responses.
//!
//! ```text
//! lab-bench [--sluice PATH] [--rounds N] [--seconds S] [--connections C] [--threads T]
//! ```
//!
//! Each round builds a fresh client — appliance — server topology per target,
//! starts nginx (a 3-byte `return 200`) in the server host and the proxy in the
//! appliance host, warms up for a second, then runs `wrk` in the client host for S
//! seconds. The proxy's CPU time is the sum of `/proc/<pid>/task/*/schedstat` over
//! its threads across the measured run (busy-polling counts: it is the cost).
//! Targets are interleaved round by round (a shared machine drifts). Prints a
//! Markdown table of medians. Needs root, `ip`, `nft`, `wrk`, `nginx`, `haproxy`.
//! Every load run is bounded by S seconds and a hard time limit.

use std::path::PathBuf;
use std::time::Duration;

use vm_tests::topology::{server_addr, Mode, FRONT};
use vm_tests::{detect, Host, NsProcess, Sluice, ThreeTier};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    SluicePoll,
    SluiceEpoll,
    Haproxy,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::SluicePoll => "sluice poll (AF_PACKET)",
            Target::SluiceEpoll => "sluice epoll",
            Target::Haproxy => "HAProxy (kernel)",
        }
    }
}

struct Opts {
    sluice: PathBuf,
    rounds: usize,
    seconds: u64,
    connections: u32,
    threads: u32,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        sluice: PathBuf::new(),
        rounds: 5,
        seconds: 5,
        connections: 32,
        threads: 1,
    };
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--sluice" => o.sluice = PathBuf::from(v),
            "--rounds" => o.rounds = v.parse().unwrap_or_else(|_| usage()),
            "--seconds" => o.seconds = v.parse().unwrap_or_else(|_| usage()),
            "--connections" => o.connections = v.parse().unwrap_or_else(|_| usage()),
            "--threads" => o.threads = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.sluice.as_os_str().is_empty() {
        o.sluice = vm_tests::sluice::binary().unwrap_or_else(|s| fail(&s.to_string()));
    }
    for t in ["wrk", "nginx", "haproxy", "nft"] {
        if detect::which(t).is_none() {
            fail(&format!("{t} not installed"));
        }
    }
    if let Err(s) = detect::lab() {
        fail(&s.to_string());
    }
    let targets = [Target::SluicePoll, Target::SluiceEpoll, Target::Haproxy];
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); targets.len()];
    for round in 0..o.rounds {
        for (i, &t) in targets.iter().enumerate() {
            let r = run(t, &o)
                .unwrap_or_else(|e| fail(&format!("{} round {}: {e}", t.name(), round + 1)));
            eprintln!(
                "round {} {:<24} {:>9.0} req/s {:>6.2} CPU-µs/req",
                round + 1,
                t.name(),
                r.0,
                r.1
            );
            results[i].push(r);
        }
    }
    let med = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(|a, b| a.partial_cmp(b).unwrap());
        x[x.len() / 2]
    };
    let hap = med(&results[2], |r| r.1);
    println!(
        "\n| target | req/s (median of {}) | CPU-µs/req | vs HAProxy |",
        o.rounds
    );
    println!("|---|---:|---:|---:|");
    for (i, t) in targets.iter().enumerate() {
        let cpu = med(&results[i], |r| r.1);
        println!(
            "| {} | {:.0} | {:.2} | {:.2}× |",
            t.name(),
            med(&results[i], |r| r.0),
            cpu,
            cpu / hap
        );
    }
    println!(
        "\nwrk -t{} -c{} -d{}s, HTTP/1.1 keep-alive, 3-byte responses from nginx; one worker thread each.",
        o.threads, o.connections, o.seconds
    );
}

fn usage() -> ! {
    eprintln!("usage: lab-bench [--sluice PATH] [--rounds N] [--seconds S] [--connections C] [--threads T]");
    std::process::exit(2)
}

fn fail(msg: &str) -> ! {
    eprintln!("lab-bench: {msg}");
    std::process::exit(1)
}

/// One measured run: (requests/s, proxy CPU-µs per request).
fn run(t: Target, o: &Opts) -> Result<(f64, f64), String> {
    let mode = if t == Target::SluicePoll {
        Mode::PollAfPacket
    } else {
        Mode::Epoll
    };
    let topo = ThreeTier::build_mode(1, mode).map_err(|s| s.to_string())?;
    let srv = server_addr(0);
    let _origin = nginx(&topo.servers[0], &srv)?;
    let (io_mode, netstack) = topo.netstack();
    let cfg = format!(
        "global\n    nbthread 1\n    maxconn 4000\n{io_mode}\n{netstack}defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    http-reuse always\n\nfrontend fe\n    bind {FRONT}:80\n    default_backend be\n\nbackend be\n    server s1 {srv}:8080\n"
    );
    let proxy: ProxyProc = match t {
        Target::Haproxy => ProxyProc::Haproxy(haproxy(&topo.appliance, &cfg)?),
        _ => ProxyProc::Sluice(Sluice::start(&topo.appliance, &o.sluice, &cfg)?),
    };
    let url = format!("http://{FRONT}:80/");
    // Warm-up: ARP, pools, caches.
    wrk(&topo.client, &url, o, 1)?;
    let pid = proxy.pid();
    let before = cpu_ns(pid);
    let (reqs, secs) = wrk(&topo.client, &url, o, o.seconds)?;
    let used = cpu_ns(pid).saturating_sub(before);
    if reqs == 0 {
        return Err("wrk completed no request".into());
    }
    Ok((reqs as f64 / secs, used as f64 / 1000.0 / reqs as f64))
}

enum ProxyProc {
    Sluice(Sluice),
    Haproxy(NsProcess),
}

impl ProxyProc {
    fn pid(&self) -> u32 {
        match self {
            ProxyProc::Sluice(s) => s.pid(),
            ProxyProc::Haproxy(p) => p.pid(),
        }
    }
}

/// CPU time of every thread of `pid`, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn nginx(host: &Host, addr: &str) -> Result<NsProcess, String> {
    let dir = host.dir().join(format!("{}-nginx", host.ns()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n  keepalive_requests 1000000;\n  server {{\n    listen {addr}:8080;\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
            d = dir.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let p = host.spawn(
        "nginx",
        "nginx",
        &[
            "-e".as_ref(),
            dir.join("error.log").as_os_str(),
            "-c".as_ref(),
            conf.as_os_str(),
        ],
    )?;
    p.wait_listening(&[8080], Duration::from_secs(10))?;
    Ok(p)
}

fn haproxy(host: &Host, cfg: &str) -> Result<NsProcess, String> {
    let file = host.dir().join(format!("{}-haproxy.cfg", host.ns()));
    std::fs::write(&file, cfg).map_err(|e| e.to_string())?;
    let p = host.spawn(
        "haproxy",
        "haproxy",
        &["-db".as_ref(), "-f".as_ref(), file.as_os_str()],
    )?;
    p.wait_listening(&[80], Duration::from_secs(10))?;
    Ok(p)
}

/// Runs wrk for `seconds`; returns (requests, measured seconds).
fn wrk(client: &Host, url: &str, o: &Opts, seconds: u64) -> Result<(u64, f64), String> {
    let f = client.run(
        "wrk",
        &[
            format!("-t{}", o.threads),
            format!("-c{}", o.connections),
            format!("-d{seconds}s"),
            url.to_string(),
        ],
        Duration::from_secs(seconds + 30),
    )?;
    if !f.ok() {
        return Err(format!("wrk: {}", f.describe()));
    }
    let out = f.stdout_str();
    // "  123456 requests in 5.00s, 12.34MB read"
    let line = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .ok_or_else(|| format!("no summary in wrk output:\n{out}"))?;
    let mut w = line.split_whitespace();
    let reqs: u64 = w
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("bad wrk line")?;
    let secs: f64 = w
        .nth(2)
        .and_then(|s| s.trim_end_matches(',').trim_end_matches('s').parse().ok())
        .ok_or("bad wrk duration")?;
    if out.contains("Non-2xx") {
        return Err(format!("non-2xx responses:\n{out}"));
    }
    Ok((reqs, secs))
}
