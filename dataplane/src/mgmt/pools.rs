//! `show pools`: sluice's object pools in HAProxy's layout, summed over the workers.
//!
//! Owns: [`PoolRow`], [`worker_pools`] (what a worker reports, read on its own
//! thread: the pools are thread-local) and [`format_pools`]. The pools: `buffer`
//! (the I/O buffers, `buf.rs`), `txn` (HTTP transactions, `proxy/http/txn.rs`) and
//! `h2_pipe` (the HTTP/2 pipes' spare direction buffers, `h2/pipe.rs`; a pipe's
//! buffer in use grows in place and is not counted: all are spares).

use std::fmt::Write as _;

use super::WorkerSnapshot;

/// One pool's figures on one worker (or summed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolRow {
    pub name: &'static str,
    /// Bytes per object.
    pub size: usize,
    pub allocated: usize,
    pub used: usize,
}

/// This worker's pools (call on the worker's thread).
pub fn worker_pools() -> Vec<PoolRow> {
    let b = crate::buf::pool_stats();
    let (t_alloc, t_used, t_size) = crate::proxy::http::txn::pool_stats();
    let (p_spare, p_size) = crate::h2::pipe::spare_stats();
    vec![
        PoolRow {
            name: "buffer",
            size: b.size,
            allocated: b.allocated,
            used: b.in_use,
        },
        PoolRow {
            name: "txn",
            size: t_size,
            allocated: t_alloc,
            used: t_used,
        },
        PoolRow {
            name: "h2_pipe",
            size: p_size,
            allocated: p_spare,
            used: 0,
        },
    ]
}

/// The workers' pools summed by name (a pool's size is the first worker's).
pub(crate) fn sum(snaps: &[WorkerSnapshot]) -> Vec<PoolRow> {
    let mut out: Vec<PoolRow> = Vec::new();
    for r in snaps.iter().flat_map(|s| &s.pools) {
        match out.iter_mut().find(|o| o.name == r.name) {
            Some(o) => {
                o.allocated += r.allocated;
                o.used += r.used;
            }
            None => out.push(r.clone()),
        }
    }
    out
}

/// HAProxy's `show pools` answer: the header, a line per pool, the total. As in
/// HAProxy, `used` counts the objects kept in the per-thread caches (here: a
/// worker's spares), shown apart as `~N by thread caches`; `needed_avg` is what is
/// in use now.
pub(crate) fn format_pools(rows: &[PoolRow], workers: usize) -> String {
    let mut out = String::from("Dumping pools usage. Use SIGQUIT to flush them.\n");
    let (mut bytes, mut cached_bytes) = (0, 0);
    for r in rows {
        let cached = r.allocated.saturating_sub(r.used);
        let _ = writeln!(
            out,
            "  - Pool {} ({} bytes) : {} allocated ({} bytes), {} used (~{cached} by thread caches), needed_avg {}, 0 failures, {workers} users",
            r.name,
            r.size,
            r.allocated,
            r.allocated * r.size,
            r.allocated,
            r.used,
        );
        bytes += r.allocated * r.size;
        cached_bytes += cached * r.size;
    }
    let _ = writeln!(
        out,
        "Total: {} pools, {bytes} bytes allocated, {bytes} used (~{cached_bytes} by thread caches).",
        rows.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_formats() {
        let row = |name, size, allocated, used| PoolRow {
            name,
            size,
            allocated,
            used,
        };
        let snap = |pools| WorkerSnapshot {
            pools,
            ..Default::default()
        };
        let snaps = [
            snap(vec![row("buffer", 16384, 3, 1), row("txn", 100, 2, 0)]),
            snap(vec![row("buffer", 16384, 1, 1), row("txn", 100, 1, 1)]),
        ];
        let rows = sum(&snaps);
        assert_eq!(
            format_pools(&rows, 2),
            "Dumping pools usage. Use SIGQUIT to flush them.\n  \
             - Pool buffer (16384 bytes) : 4 allocated (65536 bytes), 4 used (~2 by thread caches), needed_avg 2, 0 failures, 2 users\n  \
             - Pool txn (100 bytes) : 3 allocated (300 bytes), 3 used (~2 by thread caches), needed_avg 1, 0 failures, 2 users\n\
             Total: 2 pools, 65836 bytes allocated, 65836 used (~32968 by thread caches).\n"
        );
    }

    #[test]
    fn worker_pools_see_the_buffer_pool() {
        let before = worker_pools();
        let mut b = crate::buf::IoBuf::new();
        b.push(b"x");
        let during = worker_pools();
        assert_eq!(during.len(), 3);
        assert_eq!(during[0].name, "buffer");
        assert_eq!(during[0].used, before[0].used + 1);
        b.consume(1);
        b.release();
        assert_eq!(worker_pools()[0].used, before[0].used);
        let t = crate::proxy::http::txn::take();
        assert_eq!(worker_pools()[1].used, before[1].used + 1);
        crate::proxy::http::txn::give(t);
        assert_eq!(worker_pools()[1].used, before[1].used);
    }
}
