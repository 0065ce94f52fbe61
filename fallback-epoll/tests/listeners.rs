//! Listening sockets of every endpoint kind: reuse_port, UNIX paths (stale and live
//! socket files), abstract names, and adoption of inherited descriptors.

mod common;

use std::os::fd::IntoRawFd;
use std::path::PathBuf;

use common::*;
use dataplane::io::{Driver, Endpoint, ListenOptions, Listener, Stream};
use fallback_epoll::{EpollDriver, EpollListener, EpollStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connects to `at`, accepts on `l`, and sends a line each way.
fn round_trip(d: &EpollDriver, l: &EpollListener, at: &Endpoint) -> (EpollStream, EpollStream) {
    let mut client = d.connect(at, None).expect("connect");
    let mut server = block_on(d, async {
        let (c, s) = join(connected(&mut client), accept(l)).await;
        c.expect("connect completes");
        s.expect("accept")
    });
    block_on(d, async {
        client.write_all(b"to server\n").await.unwrap();
        let mut b = [0u8; 10];
        server.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"to server\n");
        server.write_all(b"to client\n").await.unwrap();
        client.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"to client\n");
    });
    (client, server)
}

#[test]
fn an_idle_listener_parks_the_task() {
    let d = EpollDriver::new().unwrap();
    let (l, at) = tcp_listener(&d);
    let mut acc = Box::pin(accept(&l));
    let (r, flag) = poll_once(&mut acc);
    assert!(r.is_pending());
    assert!(!flag.fired());
    let Endpoint::Tcp(a) = at else { unreachable!() };
    let _peer = std::net::TcpStream::connect(a).unwrap();
    let t = std::time::Instant::now();
    while !flag.fired() && t.elapsed() < std::time::Duration::from_secs(5) {
        d.poll(Some(std::time::Duration::from_millis(10))).unwrap();
    }
    assert!(flag.fired(), "accept waker not woken");
    let (r, _) = poll_once(&mut acc);
    let s = match r {
        std::task::Poll::Ready(s) => s.unwrap(),
        std::task::Poll::Pending => panic!("accept still pending"),
    };
    assert_eq!(s.peer_addr(), Some(_peer.local_addr().unwrap()));
    assert!(!s.is_unix());
}

#[test]
fn two_listeners_share_a_port_with_reuse_port() {
    let d = EpollDriver::new().unwrap();
    let (l1, at) = tcp_listener(&d);
    let l2 = d
        .listen(&at, &ListenOptions::default())
        .expect("second bind with SO_REUSEPORT");
    assert_eq!(l2.local_endpoint().unwrap(), at);

    // Without it, the second bind of the port fails.
    let no_reuse = ListenOptions {
        reuse_port: false,
        ..Default::default()
    };
    let l3 = d.listen(&local(), &no_reuse).unwrap();
    let at3 = l3.local_endpoint().unwrap();
    let err = d.listen(&at3, &no_reuse).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);

    // Connections spread over both sockets; every one is accepted by one of them.
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(d.connect(&at, None).unwrap());
    }
    let accepted = block_on(&d, async {
        let mut got = [0usize; 2];
        std::future::poll_fn(|cx| {
            for (i, l) in [&l1, &l2].into_iter().enumerate() {
                while let std::task::Poll::Ready(s) = l.poll_accept(cx) {
                    s.unwrap();
                    got[i] += 1;
                }
            }
            if got[0] + got[1] == 16 {
                std::task::Poll::Ready(got)
            } else {
                std::task::Poll::Pending
            }
        })
        .await
    });
    assert_eq!(accepted[0] + accepted[1], 16, "{accepted:?}");
}

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}.sock", unique(tag)))
}

#[test]
fn unix_socket_at_a_path() {
    let d = EpollDriver::new().unwrap();
    let path = temp_path("unix");
    let at = Endpoint::Unix(path.clone());
    let l = d.listen(&at, &ListenOptions::default()).unwrap();
    assert_eq!(l.local_endpoint().unwrap(), at);
    let (client, server) = round_trip(&d, &l, &at);
    assert!(client.is_unix() && server.is_unix());
    assert_eq!((client.peer_addr(), client.local_addr()), (None, None));
    client.set_nodelay(true).unwrap();

    // A live listener's socket file is not stolen.
    let err = d.listen(&at, &ListenOptions::default()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);

    // Once it is gone, the stale socket file is replaced.
    drop((client, server, l));
    assert!(path.exists());
    let l = d
        .listen(&at, &ListenOptions::default())
        .expect("stale socket replaced");
    round_trip(&d, &l, &at);
    drop(l);
    std::fs::remove_file(&path).unwrap();

    // A file that is not a socket is never removed.
    std::fs::write(&path, b"precious").unwrap();
    assert!(d.listen(&at, &ListenOptions::default()).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn abstract_unix_socket() {
    let d = EpollDriver::new().unwrap();
    let at = Endpoint::Abstract(unique("abns"));
    let l = d.listen(&at, &ListenOptions::default()).unwrap();
    assert_eq!(l.local_endpoint().unwrap(), at);
    round_trip(&d, &l, &at);
    // Abstract names are exclusive too.
    assert!(d.listen(&at, &ListenOptions::default()).is_err());
}

#[test]
fn connect_to_a_missing_unix_socket_fails_at_once() {
    let d = EpollDriver::new().unwrap();
    let err = d
        .connect(&Endpoint::Unix(temp_path("missing")), None)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let err = d
        .connect(&Endpoint::Abstract(unique("nobody")), None)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn adopt_an_inherited_tcp_listener() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    // A connection queued before adoption is accepted too.
    let _early = std::net::TcpStream::connect(addr).unwrap();
    let fd = std_listener.into_raw_fd();

    let d = EpollDriver::new().unwrap();
    let l = d
        .listen(&Endpoint::Fd(fd), &ListenOptions::default())
        .unwrap();
    assert_eq!(l.raw_fd(), fd);
    assert_eq!(l.local_endpoint().unwrap(), Endpoint::Tcp(addr));
    let early = block_on(&d, accept(&l)).unwrap();
    assert_eq!(early.peer_addr(), Some(_early.local_addr().unwrap()));

    // Adoption made it non-blocking: with nothing queued, accept parks.
    let mut acc = Box::pin(accept(&l));
    assert!(poll_once(&mut acc).0.is_pending());
    drop(acc);
    round_trip(&d, &l, &Endpoint::Tcp(addr));
}

#[test]
fn adopt_an_inherited_unix_listener() {
    let path = temp_path("fd");
    let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let fd = std_listener.into_raw_fd();
    let d = EpollDriver::new().unwrap();
    let l = d
        .listen(&Endpoint::Fd(fd), &ListenOptions::default())
        .unwrap();
    assert_eq!(l.local_endpoint().unwrap(), Endpoint::Unix(path.clone()));
    let (c, _s) = round_trip(&d, &l, &Endpoint::Unix(path.clone()));
    assert!(c.is_unix());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn adoption_refuses_what_is_not_a_listening_socket() {
    let d = EpollDriver::new().unwrap();
    assert!(d
        .listen(&Endpoint::Fd(-1), &ListenOptions::default())
        .is_err());
    // A connected (not listening) socket is refused and left to its owner.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&s);
    let err = d
        .listen(&Endpoint::Fd(raw), &ListenOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    // Still open and usable by its owner.
    s.set_nodelay(true).unwrap();
    // A regular file is not a socket either.
    let f = std::fs::File::open("/proc/self/status").unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&f);
    assert!(d
        .listen(&Endpoint::Fd(raw), &ListenOptions::default())
        .is_err());
}
