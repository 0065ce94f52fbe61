//! WebSocket over HTTP/2 (RFC 8441): an HTTP/2 client's extended CONNECT reaches an
//! HTTP/1.1 WebSocket server as an Upgrade; the server's 101 becomes the stream's
//! 200 and bytes flow both ways in DATA frames.

mod common;

use std::future::poll_fn;
use std::time::Duration;

use bytes::Bytes;
use common::{free_port, skip_unless_sluice, Origin, Proxy, HTTP_DEFAULTS};

#[test]
fn extended_connect_websocket_tunnels_to_an_h1_server() {
    if skip_unless_sluice("HAProxy 2.6 does not translate RFC 8441 to an HTTP/1 upgrade") {
        return;
    }
    let o = Origin::start("ws");
    let port = free_port();
    let _p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
backend be
    server ws {}

frontend fe
    bind 127.0.0.1:{port} proto h2
    default_backend be
",
        o.addr()
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let echoed = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (send, conn) = h2::client::handshake(tcp).await.unwrap();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            // The server's SETTINGS must have arrived to know extended CONNECT is on.
            let mut send = send.ready().await.unwrap();
            for _ in 0..100 {
                if send.is_extended_connect_protocol_enabled() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(send.is_extended_connect_protocol_enabled());
            let mut req = http::Request::builder()
                .method("CONNECT")
                .uri(format!("http://127.0.0.1:{port}/chat"))
                .header("sec-websocket-version", "13")
                .body(())
                .unwrap();
            req.extensions_mut()
                .insert(h2::ext::Protocol::from_static("websocket"));
            let (rsp, mut tx) = send.send_request(req, false).unwrap();
            let rsp = rsp.await.unwrap();
            assert_eq!(rsp.status(), 200, "{rsp:?}");
            assert!(rsp.headers().get("sec-websocket-accept").is_none());
            let mut rx = rsp.into_body();
            let mut got = Vec::new();
            for msg in [&b"\x81\x05hello"[..], b"\x82\x03\x00\x01\x02"] {
                tx.send_data(Bytes::copy_from_slice(msg), false).unwrap();
                let want = got.len() + msg.len();
                while got.len() < want {
                    let chunk = poll_fn(|cx| rx.poll_data(cx)).await.unwrap().unwrap();
                    let _ = rx.flow_control().release_capacity(chunk.len());
                    got.extend_from_slice(&chunk);
                }
            }
            tx.send_data(Bytes::new(), true).unwrap();
            got
        })
        .await
        .expect("the tunnel answered in time")
    });
    assert_eq!(echoed, b"\x81\x05hello\x82\x03\x00\x01\x02");
    let seen = o.last_seen().unwrap();
    assert_eq!(seen.header("upgrade"), Some("websocket"));
    assert_eq!(seen.header("sec-websocket-version"), Some("13"));
    assert!(seen
        .header("sec-websocket-key")
        .is_some_and(|k| k.len() == 24));
}
