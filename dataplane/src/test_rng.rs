//! A tiny deterministic generator for the unit tests (xorshift64*): seeded, so a
//! failing case is reproducible from its seed. Test-only; never used for anything
//! that must be unpredictable.

/// xorshift64* over a non-zero seed.
pub(crate) struct TestRng(pub u64);

impl TestRng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `from` (non-empty).
    pub(crate) fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    /// Sizes of consecutive pieces covering `len` bytes, each 1..=max.
    pub(crate) fn splits(&mut self, len: usize, max: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut left = len;
        while left > 0 {
            let n = (1 + self.below(max)).min(left);
            out.push(n);
            left -= n;
        }
        out
    }
}
