//! Test harness: drive futures on an `EpollDriver` without any runtime.
//!
//! `block_on` polls the future only when its waker fired (so a lost wake-up makes a
//! test fail instead of passing by accident), calls `driver.poll` in between, and
//! gives up after a deadline so no test can hang.
#![allow(dead_code)]

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use dataplane::io::{Driver, Endpoint, ListenOptions, Listener, Stream};
use fallback_epoll::{EpollDriver, EpollListener, EpollStream};

/// How long any single `block_on` may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `fut` to completion on `driver`, panicking after [`DEADLINE`].
pub fn block_on<F: Future>(driver: &EpollDriver, fut: F) -> F::Output {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let deadline = Instant::now() + DEADLINE;
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // Only a wake-up earns another poll of the future.
        while !flag.0.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "test future did not complete in time"
            );
            driver
                .poll(Some(Duration::from_millis(10)))
                .expect("driver poll");
        }
    }
}

/// Polls `fut` once with a waker that records whether it fired.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> (Poll<F::Output>, Arc<Flag>) {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    (std::pin::Pin::new(fut).poll(&mut cx), flag)
}

impl Flag {
    pub fn fired(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs two futures concurrently.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut ra = None;
    let mut rb = None;
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Yields once to the harness (wakes itself).
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

pub async fn accept(l: &EpollListener) -> io::Result<EpollStream> {
    poll_fn(|cx| l.poll_accept(cx)).await
}

pub async fn connected(s: &mut EpollStream) -> io::Result<()> {
    poll_fn(|cx| s.poll_connect(cx)).await
}

pub fn local() -> Endpoint {
    Endpoint::Tcp("127.0.0.1:0".parse().unwrap())
}

/// A listener on 127.0.0.1 and its resolved address.
pub fn tcp_listener(driver: &EpollDriver) -> (EpollListener, Endpoint) {
    let l = driver
        .listen(&local(), &ListenOptions::default())
        .expect("listen");
    let at = l.local_endpoint().expect("local endpoint");
    (l, at)
}

/// Listener + connected client + accepted server stream.
pub fn tcp_pair(driver: &EpollDriver) -> (EpollListener, EpollStream, EpollStream) {
    let (l, at) = tcp_listener(driver);
    let mut client = driver.connect(&at, None).expect("connect");
    let server = block_on(driver, async {
        let (c, s) = join(connected(&mut client), accept(&l)).await;
        c.expect("connect completes");
        s.expect("accept")
    });
    (l, client, server)
}

/// A unique name for UNIX sockets of this test process.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::AtomicUsize;
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "sluice-epoll-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::SeqCst)
    )
}
