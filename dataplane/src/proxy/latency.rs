//! Latency histograms of HTTP transactions (queue, connect, response, total time),
//! per backend and per server, for the Prometheus exporter.
//!
//! Owns: [`BOUNDS_US`] (the fixed bucket bounds), [`Histogram`] and [`Latency`].
//! Invariants: a histogram is written only by its own worker (plain integers, part
//! of [`Counters`](super::stats::Counters)); buckets are not cumulative here (one
//! count per observation, the exporter accumulates them); histograms of several
//! workers add up bucket by bucket because every worker uses the same bounds.

/// Upper bounds of the buckets, in microseconds (0.5 ms to 10 s); a last, implicit
/// bucket holds what is above (`le="+Inf"`).
pub const BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Observations per bucket (`BOUNDS_US` then `+Inf`), their count and sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; BOUNDS_US.len() + 1],
    pub count: u64,
    pub sum_us: u64,
}

impl Histogram {
    /// Count one observation of `us` microseconds.
    pub fn observe(&mut self, us: u64) {
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    pub fn add(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
        self.sum_us = self.sum_us.saturating_add(o.sum_us);
    }

    /// Cumulative counts, one per bound then `+Inf` (equal to `count`).
    pub fn cumulative(&self) -> [u64; BOUNDS_US.len() + 1] {
        let mut out = self.buckets;
        for i in 1..out.len() {
            out[i] += out[i - 1];
        }
        out
    }
}

/// The four timings of a transaction that reached a server: waiting for a server
/// slot (`Tw`), connecting (`Tc`), waiting for the response head (`Tr`), and the
/// whole transaction (`Ta`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    pub queue: Histogram,
    pub connect: Histogram,
    pub response: Histogram,
    pub total: Histogram,
}

/// One transaction's timings in microseconds (`None`: the phase did not happen).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    pub queue: Option<u64>,
    pub connect: Option<u64>,
    pub response: Option<u64>,
    pub total: u64,
}

impl Latency {
    pub fn observe(&mut self, t: &Timings) {
        let pairs = [
            (&mut self.queue, t.queue),
            (&mut self.connect, t.connect),
            (&mut self.response, t.response),
        ];
        for (h, v) in pairs {
            if let Some(v) = v {
                h.observe(v);
            }
        }
        self.total.observe(t.total);
    }

    pub fn add(&mut self, o: &Latency) {
        self.queue.add(&o.queue);
        self.connect.add(&o.connect);
        self.response.add(&o.response);
        self.total.add(&o.total);
    }

    /// The histograms with the metric name part of each.
    pub fn named(&self) -> [(&'static str, &Histogram); 4] {
        [
            ("queue", &self.queue),
            ("connect", &self.connect),
            ("response", &self.response),
            ("total", &self.total),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        let mut h = Histogram::default();
        for us in [0, 500, 501, 10_000_000, 10_000_001] {
            h.observe(us);
        }
        assert_eq!(h.buckets[0], 2, "0 and 500 are <= 0.0005 s");
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[BOUNDS_US.len() - 1], 1);
        assert_eq!(h.buckets[BOUNDS_US.len()], 1, "+Inf");
        let c = h.cumulative();
        assert_eq!(c[BOUNDS_US.len()], h.count);
        assert!(c.windows(2).all(|w| w[0] <= w[1]));
        let mut l = Latency::default();
        l.observe(&Timings {
            queue: None,
            connect: Some(700),
            response: Some(2_000),
            total: 3_000,
        });
        let mut sum = Latency::default();
        sum.add(&l);
        sum.add(&l);
        assert_eq!(
            (sum.queue.count, sum.connect.count, sum.total.sum_us),
            (0, 2, 6_000)
        );
    }
}
