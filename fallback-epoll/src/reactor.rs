//! The per-worker epoll reactor: one epoll set, a descriptor table with generations,
//! and the readiness state of every registration.
//!
//! Owns: the epoll descriptor, the table indexed by descriptor number (a generation
//! and the live registration, if any), the reusable event array, the notify eventfd
//! and the [`DriverCounters`].
//!
//! Invariants:
//! - a descriptor is added to the set once, at creation, edge-triggered for
//!   in/out/rdhup, with the token `(generation << 32) | fd`; nothing modifies it later;
//! - the slot's generation is incremented when its descriptor is closed, before the
//!   `close`, so any event carrying an older generation is recognised as stale,
//!   counted by class and never sets a flag nor wakes a task (HAProxy's `ev_epoll.c`
//!   does the same with `fdtab[fd].generation`);
//! - readiness flags are only *set* by [`Reactor::dispatch`], and only *cleared* by the
//!   I/O code after a syscall proved the condition gone (`EAGAIN`, or a short transfer
//!   while no hang-up is known). With edge triggering, any change after that syscall
//!   produces a new event, so no wake-up is lost.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use dataplane::io::{DriverCounters, Notify};

use crate::notify::EventFdNotify;
use crate::sys;

/// Readiness bits kept per registration.
pub(crate) mod ready {
    /// A read (or accept) may make progress: data, EOF or an error is waiting.
    pub const READABLE: u8 = 1 << 0;
    /// A write (or connect completion) may make progress.
    pub const WRITABLE: u8 = 1 << 1;
    /// The peer shut its write side (EPOLLRDHUP/EPOLLHUP): reads end in EOF.
    pub const READ_HUP: u8 = 1 << 2;
    /// Both directions are shut (EPOLLHUP): writes end in an error.
    pub const WRITE_HUP: u8 = 1 << 3;
    /// The socket has a pending error (EPOLLERR).
    pub const ERROR: u8 = 1 << 4;
}

/// What a descriptor is registered for at first: input only. Write readiness is
/// subscribed to lazily ([`Registration::subscribe_out`]) the first time a write
/// would block, as HAProxy does: otherwise every ACK that frees send-buffer space
/// would raise an epoll event and a wake-up for nothing.
const INTEREST_IN: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
/// Input and output (connecting sockets, and any socket after a blocked write).
const INTEREST_INOUT: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Token of the notify eventfd (a real descriptor token never has all bits set: the
/// low half is a non-negative `int`).
const NOTIFY_TOKEN: u64 = u64::MAX;

/// Events fetched per `epoll_wait`.
pub(crate) const DEFAULT_EVENT_CAPACITY: usize = 256;

/// Readiness flags and parked wakers of one registration.
#[derive(Default)]
pub(crate) struct IoState {
    /// `ready::*` bits.
    ready: Cell<u8>,
    /// Waker of the task waiting to read / accept.
    reader: Cell<Option<Waker>>,
    /// Waker of the task waiting to write / connect.
    writer: Cell<Option<Waker>>,
    /// What the descriptor is for (`show fd`).
    role: Cell<dataplane::io::FdRole>,
    /// Write readiness is subscribed to (mirrors the registration's flag).
    out: Cell<bool>,
}

impl IoState {
    fn with_flags(bits: u8) -> Self {
        let io = IoState::default();
        io.ready.set(bits);
        io
    }

    /// True if any of `bits` is set.
    pub(crate) fn has(&self, bits: u8) -> bool {
        self.ready.get() & bits != 0
    }

    /// Clears `bits`.
    pub(crate) fn clear(&self, bits: u8) {
        self.ready.set(self.ready.get() & !bits);
    }

    /// Clears `bits` unless one of `unless` is set.
    pub(crate) fn clear_unless(&self, bits: u8, unless: u8) {
        if !self.has(unless) {
            self.clear(bits);
        }
    }

    /// After a read of `got` bytes into room for `room`: a short, non-empty read means
    /// the receive queue was drained, so wait for the next edge — unless a hang-up is
    /// known, in which case stay readable so the caller reaches EOF. EOF (0) keeps it.
    pub(crate) fn after_read(&self, got: usize, room: usize) {
        if got != 0 && got < room {
            self.clear_unless(ready::READABLE, ready::READ_HUP);
        }
    }

    /// After a write of `put` bytes out of `len`: a short write means the send buffer
    /// is full, so wait for the next edge — unless an error or hang-up must surface.
    pub(crate) fn after_write(&self, put: usize, len: usize) {
        if put < len {
            self.clear_unless(ready::WRITABLE, ready::WRITE_HUP | ready::ERROR);
        }
    }

    /// Parks the reading task.
    pub(crate) fn park_reader(&self, waker: &Waker) {
        park(&self.reader, waker);
    }

    /// Parks the writing task.
    pub(crate) fn park_writer(&self, waker: &Waker) {
        park(&self.writer, waker);
    }

    /// Applies an epoll event mask; pushes the wakers to run onto `wake`.
    fn apply(&self, events: u32, wake: &mut Vec<Waker>) {
        let mut bits = 0;
        if events & (libc::EPOLLIN | libc::EPOLLPRI) as u32 != 0 {
            bits |= ready::READABLE;
        }
        if events & libc::EPOLLOUT as u32 != 0 {
            bits |= ready::WRITABLE;
        }
        if events & libc::EPOLLRDHUP as u32 != 0 {
            bits |= ready::READABLE | ready::READ_HUP;
        }
        if events & libc::EPOLLHUP as u32 != 0 {
            bits |= ready::READABLE | ready::READ_HUP | ready::WRITABLE | ready::WRITE_HUP;
        }
        if events & libc::EPOLLERR as u32 != 0 {
            bits |= ready::READABLE | ready::WRITABLE | ready::ERROR;
        }
        self.ready.set(self.ready.get() | bits);
        if bits & ready::READABLE != 0 {
            wake.extend(self.reader.take());
        }
        if bits & ready::WRITABLE != 0 {
            wake.extend(self.writer.take());
        }
    }
}

fn park(slot: &Cell<Option<Waker>>, waker: &Waker) {
    match slot.take() {
        Some(old) if old.will_wake(waker) => slot.set(Some(old)),
        _ => slot.set(Some(waker.clone())),
    }
}

/// Why an event was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stale {
    /// The descriptor was closed once since and its number is free.
    JustClosed,
    /// The number was closed more than once since (reused, closed again) and is free.
    Recycled,
    /// The number is registered again, by a newer descriptor.
    Reopened,
}

/// What [`Reactor::dispatch`] did with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Flags set on the live registration, its wakers queued.
    Delivered,
    /// The notify eventfd fired and was drained.
    Notified,
    /// Dropped and counted.
    Stale(Stale),
}

/// One entry of the descriptor table.
#[derive(Default)]
struct Slot {
    /// Incremented each time a registration of this number is closed.
    gen: u32,
    /// The live registration, if the number is registered now.
    io: Option<Rc<IoState>>,
}

/// The epoll reactor of one worker.
pub(crate) struct Reactor {
    epfd: OwnedFd,
    table: RefCell<Vec<Slot>>,
    events: RefCell<sys::EventBuf>,
    /// Wakers collected during a dispatch round, woken once no borrow is held.
    to_wake: RefCell<Vec<Waker>>,
    counters: RefCell<DriverCounters>,
    notify: Arc<EventFdNotify>,
}

impl Reactor {
    pub(crate) fn new(event_capacity: usize) -> io::Result<Rc<Reactor>> {
        let epfd = sys::epoll_create()?;
        let notify = Arc::new(EventFdNotify::new()?);
        // Input only: an eventfd is always writable, EPOLLOUT would fire at once.
        let notify_interest = (libc::EPOLLIN | libc::EPOLLET) as u32;
        sys::epoll_add(epfd.as_fd(), notify.fd(), notify_interest, NOTIFY_TOKEN)?;
        Ok(Rc::new(Reactor {
            epfd,
            table: RefCell::new(Vec::new()),
            events: RefCell::new(sys::EventBuf::with_capacity(event_capacity)),
            to_wake: RefCell::new(Vec::new()),
            counters: RefCell::new(DriverCounters::default()),
            notify,
        }))
    }

    /// Adds `fd` to the set with the current generation of its number and initial
    /// readiness `initial`. `del_on_close`: remove it explicitly before closing (for
    /// descriptors whose open file may be shared, such as listeners handed out by
    /// the lead, where `close` alone would not take it out of the set).
    ///
    /// `want_out`: subscribe to write readiness now (a connect in progress);
    /// otherwise it is added on the first blocked write.
    pub(crate) fn register(
        self: &Rc<Self>,
        fd: OwnedFd,
        initial: u8,
        del_on_close: bool,
        want_out: bool,
    ) -> io::Result<Registration> {
        let (token, io) = self.attach(fd.as_raw_fd(), initial);
        let interest = if want_out {
            INTEREST_INOUT
        } else {
            INTEREST_IN
        };
        if let Err(e) = sys::epoll_add(self.epfd.as_fd(), fd.as_fd(), interest, token) {
            self.detach(fd.as_raw_fd());
            return Err(e);
        }
        if del_on_close {
            io.role.set(dataplane::io::FdRole::Listener);
        }
        io.out.set(want_out);
        Ok(Registration {
            reactor: Rc::clone(self),
            io,
            fd,
            del_on_close,
            token,
            out: Cell::new(want_out),
        })
    }

    /// Marks `fd` registered; returns its token and state. No syscall.
    fn attach(&self, fd: RawFd, initial: u8) -> (u64, Rc<IoState>) {
        let idx = usize::try_from(fd).expect("descriptor numbers are non-negative");
        let mut table = self.table.borrow_mut();
        if table.len() <= idx {
            table.resize_with(idx + 1, Slot::default);
        }
        let slot = &mut table[idx];
        debug_assert!(slot.io.is_none(), "fd {fd} registered twice");
        let io = Rc::new(IoState::with_flags(initial));
        slot.io = Some(Rc::clone(&io));
        ((u64::from(slot.gen) << 32) | idx as u64, io)
    }

    /// Marks `fd` closed: bumps its generation. Called just before the close.
    fn detach(&self, fd: RawFd) {
        let mut table = self.table.borrow_mut();
        if let Some(slot) = usize::try_from(fd).ok().and_then(|i| table.get_mut(i)) {
            slot.io = None;
            slot.gen = slot.gen.wrapping_add(1);
        }
    }

    /// Handles one event: delivers it to the live registration whose token it
    /// carries, or classifies and counts it as stale. Wakers are queued, not woken.
    pub(crate) fn dispatch(&self, token: u64, events: u32) -> Outcome {
        if token == NOTIFY_TOKEN {
            self.notify.drain();
            return Outcome::Notified;
        }
        let fd = (token & 0xffff_ffff) as usize;
        let gen = (token >> 32) as u32;
        let table = self.table.borrow();
        let (cur_gen, live) = match table.get(fd) {
            Some(slot) => (slot.gen, slot.io.as_ref()),
            // Never registered here at all: treat like a long-gone descriptor.
            None => (gen.wrapping_add(2), None),
        };
        let outcome = match live {
            Some(io) if cur_gen == gen => {
                io.apply(events, &mut self.to_wake.borrow_mut());
                Outcome::Delivered
            }
            Some(_) => Outcome::Stale(Stale::Reopened),
            None if gen.wrapping_add(1) == cur_gen => Outcome::Stale(Stale::JustClosed),
            None => Outcome::Stale(Stale::Recycled),
        };
        let mut c = self.counters.borrow_mut();
        match outcome {
            Outcome::Delivered => c.events += 1,
            Outcome::Stale(Stale::JustClosed) => c.stale_just_closed += 1,
            Outcome::Stale(Stale::Recycled) => c.stale_recycled += 1,
            Outcome::Stale(Stale::Reopened) => c.stale_reopened += 1,
            Outcome::Notified => {}
        }
        outcome
    }

    /// Wakes the tasks queued by `dispatch`, with no borrow of the reactor held.
    pub(crate) fn wake_pending(&self) {
        let mut wakers = std::mem::take(&mut *self.to_wake.borrow_mut());
        for w in wakers.drain(..) {
            w.wake();
        }
        // Hand the (now empty) allocation back for the next round.
        let mut slot = self.to_wake.borrow_mut();
        if slot.is_empty() {
            *slot = wakers;
        }
    }

    /// One `epoll_wait` for at most `timeout`; returns the number of events delivered
    /// to live registrations (stale and notify events are not counted).
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let n = self
            .events
            .borrow_mut()
            .wait(self.epfd.as_fd(), timeout_ms(timeout))?;
        let mut delivered = 0;
        {
            let events = self.events.borrow();
            for i in 0..n {
                let (token, mask) = events.get(i);
                if self.dispatch(token, mask) == Outcome::Delivered {
                    delivered += 1;
                }
            }
        }
        self.wake_pending();
        let mut c = self.counters.borrow_mut();
        if delivered > 0 {
            c.busy_polls += 1;
        } else {
            c.idle_polls += 1;
        }
        Ok(delivered)
    }

    /// The registered descriptors (`show fd`), by number.
    pub(crate) fn fds(&self) -> Vec<dataplane::io::FdInfo> {
        let table = self.table.borrow();
        let mut out = Vec::new();
        for (fd, slot) in table.iter().enumerate() {
            let Some(io) = &slot.io else { continue };
            let waits = |c: &Cell<Option<Waker>>| {
                let w = c.take();
                let some = w.is_some();
                c.set(w);
                some
            };
            out.push(dataplane::io::FdInfo {
                fd: fd as i32,
                gen: slot.gen,
                role: io.role.get(),
                readable: io.has(ready::READABLE),
                writable: io.has(ready::WRITABLE),
                read_hup: io.has(ready::READ_HUP),
                write_hup: io.has(ready::WRITE_HUP),
                error: io.has(ready::ERROR),
                reader_waits: waits(&io.reader),
                writer_waits: waits(&io.writer),
                out_subscribed: io.out.get(),
            });
        }
        out
    }

    pub(crate) fn counters(&self) -> DriverCounters {
        self.counters.borrow().clone()
    }

    pub(crate) fn notifier(&self) -> Arc<dyn Notify> {
        self.notify.clone()
    }

    fn epfd(&self) -> BorrowedFd<'_> {
        self.epfd.as_fd()
    }
}

/// Milliseconds for `epoll_wait`, rounded up so a sub-millisecond timeout still
/// sleeps instead of spinning; `None` waits forever.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

/// A descriptor registered in a reactor. Dropping it bumps the generation of its
/// number, then closes it.
pub(crate) struct Registration {
    reactor: Rc<Reactor>,
    io: Rc<IoState>,
    fd: OwnedFd,
    del_on_close: bool,
    /// The epoll token (generation and number), for `EPOLL_CTL_MOD`.
    token: u64,
    /// Write readiness is subscribed to.
    out: Cell<bool>,
}

impl Registration {
    /// Say what the descriptor is for (`show fd`).
    pub(crate) fn set_role(&self, role: dataplane::io::FdRole) {
        self.io.role.set(role);
    }

    /// Subscribe to write readiness (once; later calls are free). The kernel
    /// re-checks readiness on the change, so a socket that became writable in the
    /// meantime still reports it: no wake-up is lost.
    pub(crate) fn subscribe_out(&self) -> io::Result<()> {
        if !self.out.get() {
            sys::epoll_mod(
                self.reactor.epfd(),
                self.fd.as_fd(),
                INTEREST_INOUT,
                self.token,
            )?;
            self.out.set(true);
            self.io.out.set(true);
        }
        Ok(())
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Remove the descriptor from the epoll set now (before it is duplicated and
    /// handed to another worker: closing this number would not remove it then).
    pub(crate) fn leave_set(&self) -> io::Result<()> {
        sys::epoll_del(self.reactor.epfd(), self.fd.as_fd())
    }

    pub(crate) fn io(&self) -> &IoState {
        &self.io
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.del_on_close {
            // Best effort: the close below also removes it unless the file is shared.
            let _ = sys::epoll_del(self.reactor.epfd(), self.fd.as_fd());
        }
        self.reactor.detach(self.fd.as_raw_fd());
        // `self.fd` is closed when the fields drop, after the generation moved on.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct CountWaker(AtomicUsize);

    impl Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn token(gen: u32, fd: RawFd) -> u64 {
        (u64::from(gen) << 32) | fd as u64
    }

    const IN: u32 = libc::EPOLLIN as u32;

    #[test]
    fn live_event_sets_flags_and_wakes_the_parked_reader() {
        let r = Reactor::new(8).unwrap();
        let (tok, io) = r.attach(5000, 0);
        let counter = Arc::new(CountWaker::default());
        io.park_reader(&Waker::from(counter.clone()));
        assert_eq!(r.dispatch(tok, IN), Outcome::Delivered);
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "woken only by wake_pending"
        );
        r.wake_pending();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(io.has(ready::READABLE));
        assert!(!io.has(ready::WRITABLE));
        assert_eq!(r.counters().events, 1);
    }

    #[test]
    fn stale_events_are_classified_and_never_delivered() {
        let r = Reactor::new(8).unwrap();
        let fd = 4000;

        // Registered at generation 0, closed once: the event is from just before.
        let (t0, io0) = r.attach(fd, 0);
        assert_eq!(t0, token(0, fd));
        r.detach(fd);
        assert_eq!(r.dispatch(t0, IN), Outcome::Stale(Stale::JustClosed));
        assert!(
            !io0.has(ready::READABLE),
            "a closed registration is never touched"
        );

        // The number was reused (generation 1) and closed again: recycled.
        let (t1, _io1) = r.attach(fd, 0);
        assert_eq!(t1, token(1, fd));
        r.detach(fd);
        assert_eq!(r.dispatch(t0, IN), Outcome::Stale(Stale::Recycled));
        // ... while the event of generation 1 is only "just closed".
        assert_eq!(r.dispatch(t1, IN), Outcome::Stale(Stale::JustClosed));

        // Reopened: a live registration at generation 2 gets neither old event.
        let (t2, io2) = r.attach(fd, 0);
        let counter = Arc::new(CountWaker::default());
        io2.park_reader(&Waker::from(counter.clone()));
        io2.park_writer(&Waker::from(counter.clone()));
        assert_eq!(
            r.dispatch(t0, IN | libc::EPOLLOUT as u32),
            Outcome::Stale(Stale::Reopened)
        );
        assert_eq!(
            r.dispatch(t1, libc::EPOLLERR as u32),
            Outcome::Stale(Stale::Reopened)
        );
        r.wake_pending();
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        assert!(!io2.has(0xff));

        // A number this reactor never saw.
        assert_eq!(
            r.dispatch(token(0, 70_000), IN),
            Outcome::Stale(Stale::Recycled)
        );

        // And the live one still works.
        assert_eq!(r.dispatch(t2, IN), Outcome::Delivered);
        r.wake_pending();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);

        let c = r.counters();
        assert_eq!(
            (
                c.stale_just_closed,
                c.stale_recycled,
                c.stale_reopened,
                c.events
            ),
            (2, 2, 2, 1)
        );
    }

    #[test]
    fn generation_wraps_without_false_delivery() {
        let r = Reactor::new(8).unwrap();
        let fd = 3000;
        r.table
            .borrow_mut()
            .resize_with(fd as usize + 1, Slot::default);
        r.table.borrow_mut()[fd as usize].gen = u32::MAX;
        let (t, _) = r.attach(fd, 0);
        assert_eq!(t >> 32, u64::from(u32::MAX));
        r.detach(fd);
        assert_eq!(r.table.borrow()[fd as usize].gen, 0);
        assert_eq!(r.dispatch(t, IN), Outcome::Stale(Stale::JustClosed));
    }

    #[test]
    fn hangup_and_error_map_to_flags() {
        let r = Reactor::new(8).unwrap();
        let (t, io) = r.attach(2000, 0);
        r.dispatch(t, libc::EPOLLRDHUP as u32);
        assert!(io.has(ready::READABLE) && io.has(ready::READ_HUP));
        assert!(!io.has(ready::WRITABLE));
        // A short read with the hang-up known keeps the stream readable (EOF next).
        io.after_read(10, 100);
        assert!(io.has(ready::READABLE));
        r.dispatch(t, libc::EPOLLERR as u32);
        assert!(io.has(ready::WRITABLE) && io.has(ready::ERROR));
        io.after_write(1, 2);
        assert!(
            io.has(ready::WRITABLE),
            "an error must surface through the next write"
        );
    }

    #[test]
    fn short_transfers_clear_readiness() {
        let io = IoState::with_flags(ready::READABLE | ready::WRITABLE);
        io.after_read(100, 100);
        assert!(io.has(ready::READABLE), "a full read may leave more data");
        io.after_read(0, 100);
        assert!(io.has(ready::READABLE), "EOF stays visible");
        io.after_read(10, 100);
        assert!(!io.has(ready::READABLE));
        io.after_write(5, 5);
        assert!(io.has(ready::WRITABLE));
        io.after_write(4, 5);
        assert!(!io.has(ready::WRITABLE));
    }

    #[test]
    fn timeouts_round_up_to_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(10))), 10);
        assert_eq!(
            timeout_ms(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }
}
