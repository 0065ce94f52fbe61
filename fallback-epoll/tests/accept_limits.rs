//! `accept` under descriptor exhaustion: `EMFILE` is returned to the caller (who
//! backs off) without spinning, and the listener stays ready, so the retry after the
//! back-off accepts without waiting for a new edge.
//!
//! A single test in its own process: it lowers the process's descriptor limit.

mod common;

use std::process::Command;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::*;
use dataplane::io::{Driver, Endpoint};
use fallback_epoll::EpollDriver;

fn set_nofile_soft(limit: u64) {
    let hard = 20_000.max(limit);
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={limit}:{hard}"))
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!("prlimit failed: {other:?}"),
    }
}

fn current_nofile() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut nums = line
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    (nums.next().unwrap(), nums.next().unwrap())
}

#[test]
fn emfile_is_reported_and_readiness_kept() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: prlimit not installed");
        return;
    }
    let (soft, hard) = current_nofile();
    let d = EpollDriver::new().unwrap();
    let (l, at) = tcp_listener(&d);
    let Endpoint::Tcp(addr) = at else {
        unreachable!()
    };
    let _client = std::net::TcpStream::connect(addr).unwrap();

    // Hold a few spare descriptors (released later so that running `prlimit` can
    // create its pipes), then forbid every number from the first free one on.
    let spare: Vec<std::fs::File> = (0..4)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    let limit = spare
        .iter()
        .map(std::os::fd::AsRawFd::as_raw_fd)
        .max()
        .unwrap() as u64
        + 1;
    set_nofile_soft(limit);

    let mut acc = Box::pin(accept(&l));
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match poll_once(&mut acc).0 {
            Poll::Ready(r) => break r.unwrap_err(),
            Poll::Pending => {
                assert!(Instant::now() < deadline, "no accept attempt");
                d.poll(Some(Duration::from_millis(10))).unwrap();
            }
        }
    };
    drop(acc);
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

    // Still ready: the next attempt tries again at once (and fails again).
    let mut acc = Box::pin(accept(&l));
    match poll_once(&mut acc).0 {
        Poll::Ready(Err(e)) => assert_eq!(e.raw_os_error(), Some(libc::EMFILE)),
        other => panic!(
            "expected EMFILE again, got {:?}",
            other.map(|r| r.map(drop))
        ),
    }
    drop(acc);

    // After the back-off, with descriptors available, no new edge is needed.
    drop(spare);
    set_nofile_soft(soft.min(hard));
    let mut acc = Box::pin(accept(&l));
    match poll_once(&mut acc).0 {
        Poll::Ready(Ok(s)) => drop(s),
        other => panic!(
            "expected a connection, got {:?}",
            other.map(|r| r.map(drop))
        ),
    }
}
