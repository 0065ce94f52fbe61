//! The worker's clock: a monotonic millisecond counter and a wall-clock reading,
//! both sampled once per loop turn so the request path never calls the OS for time.
//!
//! Invariant: `now_ms()` never goes backwards on a thread; it is the time base of the
//! timer wheel. `wall()` is only for logs and the CLI.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static ORIGIN: OnceLock<Instant> = OnceLock::new();

thread_local! {
    static NOW_MS: Cell<u64> = const { Cell::new(0) };
    static NOW_US: Cell<u64> = const { Cell::new(0) };
    static WALL_US: Cell<u64> = const { Cell::new(0) };
}

fn origin() -> Instant {
    *ORIGIN.get_or_init(Instant::now)
}

/// Sample the clocks (once per loop turn). Returns the new `now_ms`.
pub fn update() -> u64 {
    let mono = origin().elapsed();
    let us = mono.as_micros() as u64;
    let ms = us / 1000;
    NOW_MS.with(|c| c.set(c.get().max(ms)));
    NOW_US.with(|c| c.set(c.get().max(us)));
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros() as u64;
    WALL_US.with(|c| c.set(wall));
    NOW_MS.with(|c| c.get())
}

/// Monotonic milliseconds since process start, as of the last [`update`].
pub fn now_ms() -> u64 {
    NOW_MS.with(|c| c.get())
}

/// Monotonic microseconds since process start, as of the last [`update`].
pub fn now_us() -> u64 {
    NOW_US.with(|c| c.get())
}

/// Microseconds since the Unix epoch, as of the last [`update`].
pub fn wall_us() -> u64 {
    WALL_US.with(|c| c.get())
}

/// Monotonic microseconds read right now (for precise intervals such as connect time).
pub fn precise_us() -> u64 {
    origin().elapsed().as_micros() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_cached() {
        let a = update();
        let cached = now_ms();
        assert_eq!(a, cached);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(now_ms(), cached, "no update, no change");
        let b = update();
        assert!(b >= a + 2);
        assert!(wall_us() > 1_600_000_000_000_000);
    }
}
