//! sluice's poll mode behind the dataplane's I/O seam: [`PollDriver`] runs one
//! core's [`Stack`] in a busy-poll, run-to-completion loop.
//!
//! # What it owns
//!
//! The core's stack (shared with its streams and listeners through an `Rc`: one
//! thread, no locks), the cross-thread [`Notify`] handle (an eventfd), the idle
//! policy, and this core's end of the ARP exchange between cores.
//!
//! # The loop
//!
//! `Driver::poll(timeout)` takes a burst from every port, fires due TCP
//! deadlines, egresses what is pending and kicks the ports; if that found work
//! it returns at once. When idle it keeps polling (busy-poll) for
//! [`IdlePolicy::spin`], then — if [`IdlePolicy::backoff`] is not zero — sleeps
//! in `poll(2)` on the ports' descriptors and the notify eventfd for at most the
//! back-off, the caller's timeout and the stack's next deadline, so an idle lab
//! machine is not pinned at 100 % while a frame still wakes the core at once.
//! `Driver::flush` (end of each loop turn) egresses what tasks wrote.
//!
//! # Invariants
//!
//! - No kernel socket on the data path: the only syscalls are the ports' own
//!   (none for DPDK, one ring kick per burst for AF_PACKET), the idle sleep, and
//!   the eventfd when another thread wakes this core.
//! - `poll` never blocks longer than its timeout and returns early on notify.
//! - Connections never move between cores (`Stream::into_portable` refuses):
//!   each belongs to the stack whose queue its frames are steered to.

mod stream;
mod sys;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant as StdInstant};

use crossbeam_queue::ArrayQueue;
use dataplane::io::{Driver, DriverCounters, Endpoint, ListenOptions, Notify};

use crate::port::{Instant, Port};
use crate::stack::{Stack, StackCounters};

pub use stream::{NetListener, NetStream};

/// How an idle core waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdlePolicy {
    /// Keep polling this long after the last work before sleeping.
    pub spin: Duration,
    /// Longest sleep when idle; zero: never sleep (pure busy-poll).
    pub backoff: Duration,
}

impl Default for IdlePolicy {
    fn default() -> Self {
        IdlePolicy {
            spin: Duration::from_micros(50),
            backoff: Duration::from_millis(1),
        }
    }
}

/// Wakes a poll-mode core from another thread.
pub struct PollNotify {
    fd: OwnedFd,
    pending: AtomicBool,
}

impl PollNotify {
    fn new() -> io::Result<Self> {
        Ok(PollNotify {
            fd: sys::eventfd()?,
            pending: AtomicBool::new(false),
        })
    }

    fn take(&self) -> bool {
        if self.pending.swap(false, Ordering::AcqRel) {
            sys::eventfd_drain(self.fd.as_fd());
            true
        } else {
            false
        }
    }
}

impl Notify for PollNotify {
    fn notify(&self) {
        self.pending.store(true, Ordering::Release);
        // Fails only when the counter is saturated, which already means "wake up".
        let _ = sys::eventfd_signal(self.fd.as_fd());
    }
}

/// ARP frames passed between the cores sharing ports: each core's smoltcp
/// neighbour cache learns what any core heard (frames are steered by TCP port,
/// ARP goes to queue 0 only).
pub struct ArpExchange {
    inboxes: Vec<ArrayQueue<(usize, Vec<u8>)>>,
    notifiers: Vec<OnceLock<Arc<PollNotify>>>,
}

impl ArpExchange {
    /// An exchange for `cores` cores.
    pub fn new(cores: usize) -> Arc<Self> {
        Arc::new(ArpExchange {
            inboxes: (0..cores).map(|_| ArrayQueue::new(256)).collect(),
            notifiers: (0..cores).map(|_| OnceLock::new()).collect(),
        })
    }
}

/// One core's poll-mode driver over ports of type `P`.
pub struct PollDriver<P: Port> {
    stack: Rc<RefCell<Stack<P>>>,
    notify: Arc<PollNotify>,
    epoch: StdInstant,
    idle: IdlePolicy,
    arp: Option<(Arc<ArpExchange>, usize)>,
    counters: Cell<(u64, u64)>,
}

impl<P: Port + 'static> PollDriver<P> {
    /// A driver running `stack`; `arp` joins this core (its index) to the
    /// exchange of the cores sharing its ports.
    pub fn new(
        stack: Stack<P>,
        idle: IdlePolicy,
        arp: Option<(Arc<ArpExchange>, usize)>,
    ) -> io::Result<Self> {
        let notify = Arc::new(PollNotify::new()?);
        if let Some((x, i)) = &arp {
            let _ = x.notifiers[*i].set(notify.clone());
        }
        Ok(PollDriver {
            stack: Rc::new(RefCell::new(stack)),
            notify,
            epoch: StdInstant::now(),
            idle,
            arp,
            counters: Cell::new((0, 0)),
        })
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// The stack's own counters.
    pub fn stack_counters(&self) -> StackCounters {
        self.stack.borrow().counters()
    }

    /// The idle policy (for `-vv` and logs).
    pub fn idle_policy(&self) -> IdlePolicy {
        self.idle
    }

    /// One pass: frames, deadlines, egress; ARP to and from the other cores.
    fn turn(&self) -> usize {
        let now = self.now();
        let mut stack = self.stack.borrow_mut();
        let mut work = stack.poll(now);
        if let Some((x, me)) = &self.arp {
            while let Some((nic, frame)) = x.inboxes[*me].pop() {
                stack.share_arp(nic, &frame);
                work += 1;
            }
            let out = stack.take_shared_arp();
            if !out.is_empty() {
                for (i, inbox) in x.inboxes.iter().enumerate() {
                    if i == *me {
                        continue;
                    }
                    for (nic, f) in &out {
                        // A full inbox loses a copy; ARP repeats itself.
                        let _ = inbox.push((*nic, f.clone()));
                    }
                    if let Some(n) = x.notifiers[i].get() {
                        n.notify();
                    }
                }
            }
        }
        work
    }

    fn sleep(&self, limit: Duration) -> io::Result<()> {
        let stack = self.stack.borrow();
        let mut fds = vec![self.notify.fd.as_raw_fd()];
        for i in 0..stack.port_count() {
            if let Some(fd) = stack.port(i).and_then(|p| p.wake_fd()) {
                fds.push(fd);
            }
        }
        let mut limit = limit;
        if let Some(at) = stack.next_deadline_ms() {
            let now = self.now().total_millis();
            limit = limit.min(Duration::from_millis(at.saturating_sub(now).max(0) as u64));
        }
        drop(stack);
        if fds.len() == 1 {
            // No port can wake us (memory wire): nap by time.
            if sys::wait_readable(&fds, limit.min(Duration::from_micros(200)))? {
                return Ok(());
            }
            return Ok(());
        }
        sys::wait_readable(&fds, limit).map(|_| ())
    }

    fn count(&self, busy: bool) {
        let (b, i) = self.counters.get();
        self.counters
            .set(if busy { (b + 1, i) } else { (b, i + 1) });
    }
}

fn unsupported(at: &Endpoint) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{at} is not available in io-mode poll (IPv4 TCP addresses of netstack ports only)"
        ),
    )
}

impl<P: Port + 'static> Driver for PollDriver<P> {
    type Stream = NetStream<P>;
    type Listener = NetListener<P>;

    fn listen(&self, at: &Endpoint, opts: &ListenOptions) -> io::Result<NetListener<P>> {
        let Endpoint::Tcp(SocketAddr::V4(a)) = at else {
            return Err(unsupported(at));
        };
        let ip = (!a.ip().is_unspecified()).then_some(*a.ip());
        let backlog = usize::try_from(opts.backlog).unwrap_or(1024).max(1);
        let id = self.stack.borrow_mut().listen(ip, a.port(), backlog)?;
        Ok(NetListener::new(self.stack.clone(), id, at.clone()))
    }

    fn connect(&self, to: &Endpoint, source: Option<SocketAddr>) -> io::Result<NetStream<P>> {
        let Endpoint::Tcp(SocketAddr::V4(remote)) = to else {
            return Err(unsupported(to));
        };
        let local = match source {
            None => None,
            Some(SocketAddr::V4(s)) => Some(s),
            Some(SocketAddr::V6(s)) => return Err(unsupported(&Endpoint::Tcp(SocketAddr::V6(s)))),
        };
        let id = self
            .stack
            .borrow_mut()
            .connect(*remote, local.map(|l: SocketAddrV4| l))?;
        NetStream::new(self.stack.clone(), id)
    }

    fn poll(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let start = StdInstant::now();
        let timeout = timeout.unwrap_or(Duration::from_secs(3600));
        let mut last_work = start;
        loop {
            let n = self.turn();
            if n > 0 {
                self.count(true);
                return Ok(n);
            }
            if self.notify.take() {
                self.count(false);
                return Ok(0);
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                self.count(false);
                return Ok(0);
            }
            if last_work.elapsed() < self.idle.spin || self.idle.backoff.is_zero() {
                std::hint::spin_loop();
                continue;
            }
            self.sleep(self.idle.backoff.min(timeout - elapsed))?;
            last_work = StdInstant::now() - self.idle.spin;
        }
    }

    fn flush(&self) {
        let now = self.now();
        self.stack.borrow_mut().flush(now);
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.notify.clone()
    }

    fn counters(&self) -> DriverCounters {
        let (busy_polls, idle_polls) = self.counters.get();
        let s = self.stack.borrow().counters();
        DriverCounters {
            events: s.rx_frames + s.timers_fired,
            stale_just_closed: s.stale_just_closed,
            stale_recycled: s.stale_recycled,
            stale_reopened: 0,
            busy_polls,
            idle_polls,
        }
    }
}
