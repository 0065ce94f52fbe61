//! Idle-connection takeover between workers (`tune.idle-pool.shared on|full`):
//! a worker with no idle connection to a server asks a worker that has one, through
//! that worker's mailbox, instead of opening a new connection.
//!
//! Owns: the request/answer protocol ([`ask`] on the asking worker, [`answer`] on
//! the worker asked) and the per-worker takeover count (`show activity`).
//!
//! Invariants (share-nothing is kept): a connection belongs to exactly one worker
//! at any time — the worker asked takes it out of its pool *permanently* (HAProxy's
//! rule: a taken connection is never found in a pool again), detaches it from its
//! poller, and hands it over by value; the asking worker adopts it or, if it gave
//! up waiting, the answer is dropped and the connection closed — never two owners.
//! The wait is bounded (a connect is the fallback), and which peer to ask comes
//! from per-worker idle counts published in [`ServerState`], so no worker is asked
//! for what it does not have. Only connections the driver can move (clear TCP in
//! epoll mode) travel; a TLS connection stays with its worker.
//!
//! [`ServerState`]: crate::proxy::shared::ServerState

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use appliance_config::{HttpReuse, IdlePoolShared};

use crate::io::{Driver, Portable, Stream};
use crate::proxy::pool::Release;
use crate::proxy::{Message, Worker};
use crate::runtime::Timer;
use crate::tls::MaybeTls;

/// How long a worker waits for another's answer before it connects instead.
const WAIT: Duration = Duration::from_millis(2);

/// A connection on its way between workers, with the requests it already served.
pub struct Handed {
    pub conn: Portable,
    pub requests: u32,
}

#[derive(Default)]
struct ReplyState {
    /// `Some(None)`: the worker asked had nothing to give.
    answer: Option<Option<Handed>>,
    waker: Option<Waker>,
    /// The asker stopped waiting: a late answer is dropped (its connection closes).
    abandoned: bool,
}

/// Where the worker asked puts its answer.
#[derive(Default)]
pub struct Reply(Mutex<ReplyState>);

thread_local! {
    static TAKEOVERS: Cell<u64> = const { Cell::new(0) };
}

/// Connections this worker took over from others (`show activity`: `fd_takeover`).
pub fn count() -> u64 {
    TAKEOVERS.with(Cell::get)
}

/// On the worker asked: give an idle connection to `server` that a request of the
/// given kind may use, if there is one that can travel.
pub fn answer<D: Driver>(
    w: &Worker<D>,
    backend: usize,
    server: usize,
    sni_key: u64,
    first: bool,
    reply: Arc<Reply>,
) {
    let bert = &w.backends[backend];
    let mut handed = None;
    if let Some(t) = bert.take_idle(server, bert.config().http_reuse, first, sni_key) {
        match t.conn.into_portable() {
            Ok(conn) => {
                handed = Some(Handed {
                    conn,
                    requests: t.requests,
                })
            }
            Err(conn) => {
                // Cannot travel (TLS): it goes back as any released connection.
                bert.put_idle(
                    server,
                    Release {
                        conn,
                        key: t.key,
                        state: t.state,
                        requests: t.requests,
                        in_use: bert.begin_use(server),
                    },
                );
            }
        }
    }
    let mut st = reply.0.lock().unwrap_or_else(|e| e.into_inner());
    if !st.abandoned {
        st.answer = Some(handed);
        if let Some(waker) = st.waker.take() {
            waker.wake();
        }
    }
}

/// The worker to ask for an idle connection to `server`, if any may have one.
fn pick_peer<D: Driver>(w: &Worker<D>, backend: usize, server: usize) -> Option<usize> {
    let counts = &w.shared.servers[backend][server].idle_by_worker;
    let n = counts.len();
    let start = w.next_takeover.get();
    let peer = (0..n)
        .map(|i| (start + i) % n)
        .find(|&p| p != w.id && counts[p].load(Ordering::Relaxed) > 0)?;
    w.next_takeover.set(peer + 1);
    Some(peer)
}

/// The worker to ask for an idle connection to `server`, when takeover is on,
/// allowed for this request (HAProxy's table), possible for the server (clear
/// connections travel), and another worker has some.
pub fn plan<D: Driver>(w: &Worker<D>, backend: usize, server: usize, first: bool) -> Option<usize> {
    let cfg = w.backends[backend].config();
    if w.shared.config.global.tune.idle_pool_shared == IdlePoolShared::Off
        || matches!(
            (cfg.http_reuse, first),
            (HttpReuse::Never, _) | (HttpReuse::Safe, true)
        )
        || cfg.servers[server].tls.is_some()
        || cfg.servers[server].proto.as_deref() == Some("h2")
    {
        return None;
    }
    pick_peer(w, backend, server)
}

/// Ask worker `peer` (from [`plan`]) for an idle connection to `server`; `None`
/// when it had none that can travel, or did not answer in time.
pub async fn ask<D: Driver>(
    w: Rc<Worker<D>>,
    peer: usize,
    backend: usize,
    server: usize,
    sni_key: u64,
    first: bool,
) -> Option<(MaybeTls<D::Stream>, u32)> {
    let reply = Arc::new(Reply::default());
    let msg = Message::TakeIdle {
        backend,
        server,
        sni_key,
        first,
        reply: reply.clone(),
    };
    w.shared.peers.get()?.get(peer)?.send(msg).ok()?;
    let mut timer = Timer::new();
    timer.set_after(Some(WAIT));
    let handed = poll_fn(|cx| {
        let mut st = reply.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = st.answer.take() {
            return Poll::Ready(a);
        }
        if timer.poll_expired(cx).is_ready() {
            st.abandoned = true;
            return Poll::Ready(None);
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    })
    .await?;
    let stream = w.driver.adopt(handed.conn).ok()?;
    TAKEOVERS.with(|c| c.set(c.get() + 1));
    Some((MaybeTls::Plain(stream), handed.requests))
}
