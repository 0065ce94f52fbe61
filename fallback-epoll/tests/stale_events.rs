//! End-to-end stale epoll events with real sockets.
//!
//! A stale event needs an epoll registration that outlives the descriptor number it
//! was made for: that is what happens when the open file is shared (a `dup` held by
//! the lead, another worker or a child process), since `close` then does not take it
//! out of the epoll set. The test holds such a duplicate, makes an event pending,
//! closes the stream, reuses its number, and only then polls.
//!
//! This file holds a single test so that no other thread of the test process takes
//! the freed descriptor number between the close and the reopen.

mod common;

use std::os::fd::OwnedFd;
use std::time::Duration;

use common::*;
use dataplane::io::{Driver, DriverCounters, Endpoint, ListenOptions};
use fallback_epoll::{EpollDriver, EpollListener, EpollStream};
use tokio::io::AsyncWriteExt;

/// Polls until the driver has been quiet for a while.
fn settle(d: &EpollDriver) {
    let mut quiet = 0;
    while quiet < 3 {
        let before = d.counters();
        d.poll(Some(Duration::from_millis(20))).unwrap();
        let after = d.counters();
        if stale(&after) == stale(&before) && after.events == before.events {
            quiet += 1;
        } else {
            quiet = 0;
        }
    }
}

fn stale(c: &DriverCounters) -> (u64, u64, u64) {
    (c.stale_just_closed, c.stale_recycled, c.stale_reopened)
}

fn delta(a: (u64, u64, u64), b: (u64, u64, u64)) -> (u64, u64, u64) {
    (b.0 - a.0, b.1 - a.1, b.2 - a.2)
}

/// A connected pair through `l`, plus a duplicate of the server side's descriptor.
fn shared_pair(
    d: &EpollDriver,
    l: &EpollListener,
    at: &Endpoint,
) -> (EpollStream, EpollStream, OwnedFd) {
    let mut client = d.connect(at, None).unwrap();
    let server = block_on(d, async {
        let (c, s) = join(connected(&mut client), accept(l)).await;
        c.unwrap();
        s.unwrap()
    });
    let dup = server.try_clone_fd().unwrap();
    (client, server, dup)
}

/// Makes data arrive on the server side of the pair: an EPOLLIN becomes pending.
fn make_event_pending(d: &EpollDriver, client: &mut EpollStream) {
    block_on(d, async { client.write_all(b"event").await.unwrap() });
    // Loopback delivery is immediate in practice; leave it a moment anyway.
    std::thread::sleep(Duration::from_millis(20));
}

/// Opens quiet listeners until one lands on descriptor number `n`.
fn listener_at(d: &EpollDriver, n: i32) -> (EpollListener, Vec<EpollListener>) {
    let mut spare = Vec::new();
    for _ in 0..64 {
        let l = d.listen(&local(), &ListenOptions::default()).unwrap();
        if l.raw_fd() == n {
            return (l, spare);
        }
        spare.push(l);
    }
    panic!("descriptor number {n} was not reused");
}

#[test]
fn stale_events_from_a_shared_socket_are_classified_and_dropped() {
    let d = EpollDriver::new().unwrap();
    let (l, at) = tcp_listener(&d);

    // 1. Just closed: close with an event pending, poll.
    let (mut c1, s1, dup1) = shared_pair(&d, &l, &at);
    settle(&d);
    let base = stale(&d.counters());
    make_event_pending(&d, &mut c1);
    drop(s1);
    d.poll(Some(Duration::from_millis(100))).unwrap();
    settle(&d);
    assert_eq!(delta(base, stale(&d.counters())), (1, 0, 0), "just closed");
    drop(dup1);

    // 2. Reopened: close with an event pending, reuse the number, then poll.
    let (mut c2, s2, dup2) = shared_pair(&d, &l, &at);
    let n = s2.raw_fd().unwrap();
    settle(&d);
    let base = d.counters();
    make_event_pending(&d, &mut c2);
    drop(s2);
    let (reopened, _spare) = listener_at(&d, n);
    // Park a task on the new registration: it must not be woken by the old event.
    let mut acc = Box::pin(accept(&reopened));
    let (r, flag) = poll_once(&mut acc);
    assert!(r.is_pending());
    d.poll(Some(Duration::from_millis(100))).unwrap();
    settle(&d);
    let after = d.counters();
    assert_eq!(delta(stale(&base), stale(&after)), (0, 0, 1), "reopened");
    assert!(
        !flag.fired(),
        "the new registration was woken by a stale event"
    );
    assert!(poll_once(&mut acc).0.is_pending());
    drop(acc);
    drop(dup2);

    // 3. Recycled: close with an event pending, reuse and close the number again.
    let (mut c3, s3, dup3) = shared_pair(&d, &l, &at);
    let n = s3.raw_fd().unwrap();
    settle(&d);
    let base = stale(&d.counters());
    make_event_pending(&d, &mut c3);
    drop(s3);
    let (again, spare) = listener_at(&d, n);
    drop(again);
    drop(spare);
    d.poll(Some(Duration::from_millis(100))).unwrap();
    settle(&d);
    assert_eq!(delta(base, stale(&d.counters())), (0, 1, 0), "recycled");
    drop(dup3);

    // The driver still works normally afterwards.
    let (mut c4, mut s4, _dup4) = shared_pair(&d, &l, &at);
    let got = block_on(&d, async {
        use tokio::io::AsyncReadExt;
        c4.write_all(b"fine").await.unwrap();
        let mut b = [0u8; 4];
        s4.read_exact(&mut b).await.unwrap();
        b
    });
    assert_eq!(&got, b"fine");
    drop((c1, c2, c3));
}
