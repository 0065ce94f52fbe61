//! Streams over real TCP sockets on 127.0.0.1: echo, backpressure, half-close,
//! refused connects, aborts, vectored writes, addresses, counters and notify.

mod common;

use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dataplane::io::{Driver, Endpoint, Stream};
use fallback_epoll::EpollDriver;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

#[test]
fn echo_through_async_read_and_write() {
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, mut server) = tcp_pair(&d);

    assert_eq!(client.peer_addr(), server.local_addr());
    assert_eq!(server.peer_addr(), client.local_addr());
    assert!(client.local_addr().unwrap().port() != 0);

    let got = block_on(&d, async {
        let echo = async {
            let mut buf = [0u8; 5];
            server.read_exact(&mut buf).await.unwrap();
            server.write_all(&buf).await.unwrap();
        };
        let talk = async {
            client.write_all(b"hello").await.unwrap();
            let mut back = [0u8; 5];
            client.read_exact(&mut back).await.unwrap();
            back
        };
        join(echo, talk).await.1
    });
    assert_eq!(&got, b"hello");
    let c = d.counters();
    assert!(c.events > 0 && c.busy_polls > 0, "{c:?}");
}

/// Wraps a writer and counts how often it had to wait.
struct CountPending<'a, W> {
    inner: &'a mut W,
    pending: &'a std::cell::Cell<usize>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for CountPending<'_, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut *self.inner).poll_write(cx, buf);
        if r.is_pending() {
            self.pending.set(self.pending.get() + 1);
        }
        r
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[test]
fn four_mib_to_a_slow_reader_applies_backpressure() {
    const LEN: usize = 4 << 20;
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, mut server) = tcp_pair(&d);
    // Small kernel buffers so the writer must wait for the reader.
    client.set_send_buffer_size(32 << 10).unwrap();
    server.set_recv_buffer_size(32 << 10).unwrap();
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let pending = std::cell::Cell::new(0usize);

    let received = block_on(&d, async {
        let write = async {
            let mut w = CountPending {
                inner: &mut client,
                pending: &pending,
            };
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let read = async {
            // Do not read before the writer hit a full socket.
            while pending.get() == 0 {
                yield_now().await;
            }
            let mut out = Vec::with_capacity(LEN);
            let mut chunk = vec![0u8; 8 << 10];
            let mut reads = 0usize;
            loop {
                let n = server.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
                reads += 1;
                if reads & 63 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                yield_now().await;
            }
            out
        };
        join(write, read).await.1
    });
    assert_eq!(received.len(), LEN);
    assert!(received == data, "data corrupted in transit");
    assert!(
        pending.get() >= 2,
        "writer went Pending {} times",
        pending.get()
    );
}

#[test]
fn half_close_delivers_eof_but_keeps_the_other_direction() {
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, mut server) = tcp_pair(&d);
    block_on(&d, async {
        client.write_all(b"ping").await.unwrap();
        client.shutdown().await.unwrap();

        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        // EOF stays visible.
        assert_eq!(server.read(&mut [0u8; 8]).await.unwrap(), 0);

        server.write_all(b"pong").await.unwrap();
        let mut back = [0u8; 4];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"pong");
    });
    drop(server);
    let n = block_on(&d, async { client.read(&mut [0u8; 8]).await.unwrap() });
    assert_eq!(n, 0);
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = EpollDriver::new().unwrap();
    let to = Endpoint::Tcp(SocketAddr::from(([127, 0, 0, 1], port)));
    let mut s = d.connect(&to, None).unwrap();
    let err = block_on(&d, connected(&mut s)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn connect_from_a_chosen_source_address() {
    let d = EpollDriver::new().unwrap();
    let (l, at) = tcp_listener(&d);
    let src: SocketAddr = "127.0.0.2:0".parse().unwrap();
    let mut client = d.connect(&at, Some(src)).unwrap();
    let server = block_on(&d, async {
        let (c, s) = join(connected(&mut client), accept(&l)).await;
        c.unwrap();
        s.unwrap()
    });
    let peer = server.peer_addr().unwrap();
    assert_eq!(peer.ip(), src.ip());
    assert_eq!(Some(peer), client.local_addr());
    assert!(d.connect(&Endpoint::Fd(3), None).is_err());
}

#[test]
fn abort_resets_the_connection() {
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, mut server) = tcp_pair(&d);
    // Nothing unread on the server side: only SO_LINGER 0 can turn the close into a RST.
    server.abort();
    assert_eq!(server.raw_fd(), None);
    let err = block_on(&d, async { server.write_all(b"x").await.unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::NotConnected);
    let err = block_on(&d, async { client.read(&mut [0u8; 16]).await.unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn vectored_writes_gather_slices() {
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, mut server) = tcp_pair(&d);
    assert!(client.is_write_vectored());
    let got = block_on(&d, async {
        let bufs = [
            IoSlice::new(b"GET / HTTP/1.1\r\n"),
            IoSlice::new(b""),
            IoSlice::new(b"Host: a\r\n\r\n"),
        ];
        let n = client.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, 27, "a small gathering write goes out whole");
        let mut got = vec![0u8; n];
        server.read_exact(&mut got).await.unwrap();
        got
    });
    assert_eq!(got, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn read_into_an_uninitialised_buffer_and_nodelay() {
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, mut server) = tcp_pair(&d);
    client.set_nodelay(false).unwrap();
    client.set_nodelay(true).unwrap();
    block_on(&d, async {
        client.write_all(b"abc").await.unwrap();
        let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); 64];
        let mut rb = ReadBuf::uninit(&mut storage);
        poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut rb))
            .await
            .unwrap();
        assert_eq!(rb.filled(), b"abc");
    });
}

#[test]
fn a_pending_read_is_woken_by_data() {
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, mut server) = tcp_pair(&d);
    let mut buf = [0u8; 8];
    {
        let mut read = Box::pin(server.read(&mut buf));
        let (r, flag) = poll_once(&mut read);
        assert!(r.is_pending());
        block_on(&d, async { client.write_all(b"x").await.unwrap() });
        let t = Instant::now();
        while !flag.fired() && t.elapsed() < Duration::from_secs(5) {
            d.poll(Some(Duration::from_millis(10))).unwrap();
        }
        assert!(flag.fired(), "reader not woken");
        let (r, _) = poll_once(&mut read);
        assert!(matches!(r, std::task::Poll::Ready(Ok(1))));
    }
    assert_eq!(buf[0], b'x');
}

#[test]
fn notify_from_another_thread_wakes_a_blocking_poll() {
    let d = EpollDriver::new().unwrap();
    // Backstop so a broken notify fails the test instead of hanging it.
    let (_l, at) = tcp_listener(&d);
    let notifier = d.notifier();
    let done = Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        notifier.notify();
        let start = Instant::now();
        while !done2.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !done2.load(Ordering::SeqCst) {
            let Endpoint::Tcp(a) = at else { unreachable!() };
            let _ = std::net::TcpStream::connect(a);
        }
    });
    let idle_before = d.counters().idle_polls;
    let start = Instant::now();
    let n = d.poll(None).unwrap();
    let waited = start.elapsed();
    done.store(true, Ordering::SeqCst);
    t.join().unwrap();
    assert_eq!(n, 0, "a notify is not an I/O event");
    assert!(
        waited >= Duration::from_millis(90),
        "returned before the notify: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "notify did not wake poll: {waited:?}"
    );
    assert_eq!(d.counters().idle_polls, idle_before + 1);

    // Notifications coalesce and are drained: the next poll times out quietly.
    let n2 = d.notifier();
    n2.notify();
    n2.notify();
    assert_eq!(d.poll(Some(Duration::from_millis(200))).unwrap(), 0);
    let start = Instant::now();
    assert_eq!(d.poll(Some(Duration::from_millis(50))).unwrap(), 0);
    assert!(
        start.elapsed() >= Duration::from_millis(45),
        "eventfd was not drained"
    );
}

#[test]
fn notifier_outlives_its_driver() {
    let d = EpollDriver::new().unwrap();
    let n = d.notifier();
    drop(d);
    n.notify();
}

#[test]
fn ipv6_loopback_with_v6only() {
    let d = EpollDriver::new().unwrap();
    let opts = dataplane::io::ListenOptions {
        v6only: Some(true),
        ..Default::default()
    };
    let l = match d.listen(&Endpoint::Tcp("[::1]:0".parse().unwrap()), &opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipped: no IPv6 loopback ({e})");
            return;
        }
    };
    use dataplane::io::Listener;
    let at = l.local_endpoint().unwrap();
    let mut client = d.connect(&at, None).unwrap();
    let mut server = block_on(&d, async {
        let (c, s) = join(connected(&mut client), accept(&l)).await;
        c.unwrap();
        s.unwrap()
    });
    assert!(server.peer_addr().unwrap().is_ipv6());
    block_on(&d, async {
        server.write_all(b"v6").await.unwrap();
        let mut b = [0u8; 2];
        client.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"v6");
    });
}

#[test]
fn writing_to_a_closed_peer_fails_instead_of_hanging() {
    let d = EpollDriver::new().unwrap();
    let (_l, mut client, server) = tcp_pair(&d);
    drop(server);
    let err = block_on(&d, async {
        let chunk = vec![7u8; 64 << 10];
        loop {
            if let Err(e) = client.write_all(&chunk).await {
                break e;
            }
        }
    });
    assert!(
        matches!(
            err.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    // Reading reports the reset or EOF, never blocks.
    let r = block_on(&d, async { client.read(&mut [0u8; 8]).await });
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
}
