//! The deterministic byte pattern big bodies are made of, and the checksum they are
//! verified with (FNV-1a 64, streaming), shared by origins, clients and tests.
//!
//! Invariant: `byte(i)` depends only on the offset, so any producer can generate
//! any slice without state, and a body that was truncated, reordered or duplicated
//! anywhere changes the checksum.

/// The pattern byte at offset `i` (a period of 251 mixed with the KiB index, so a
/// shifted copy does not repeat the same bytes).
pub fn byte(i: u64) -> u8 {
    ((i % 251) as u8).wrapping_add((i >> 10) as u8)
}

/// Fills `buf` with the pattern starting at `offset`.
pub fn fill(offset: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = byte(offset + k as u64);
    }
}

/// `n` pattern bytes.
pub fn bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    fill(0, &mut v);
    v
}

/// Streaming FNV-1a 64 plus a length.
#[derive(Clone, Copy, Debug)]
pub struct Sum {
    h: u64,
    len: u64,
}

impl Default for Sum {
    fn default() -> Self {
        Sum {
            h: 0xcbf2_9ce4_8422_2325,
            len: 0,
        }
    }
}

impl Sum {
    pub fn new() -> Sum {
        Sum::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.h ^= b as u64;
            self.h = self.h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.len += data.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The checksum as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.h)
    }

    /// `len=N sum=HEX`: the form origins and clients print.
    pub fn line(&self) -> String {
        format!("len={} sum={}", self.len, self.hex())
    }
}

/// The checksum of `data`.
pub fn sum(data: &[u8]) -> Sum {
    let mut s = Sum::new();
    s.update(data);
    s
}

/// The checksum of the first `n` pattern bytes, without allocating them all.
pub fn pattern_sum(n: u64) -> Sum {
    let mut s = Sum::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0;
    while off < n {
        let k = (n - off).min(buf.len() as u64) as usize;
        fill(off, &mut buf[..k]);
        s.update(&buf[..k]);
        off += k as u64;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_shot() {
        let data = bytes(200_000);
        assert_eq!(sum(&data).line(), pattern_sum(200_000).line());
        let mut s = Sum::new();
        for c in data.chunks(777) {
            s.update(c);
        }
        assert_eq!(s.hex(), sum(&data).hex());
        let mut shifted = data.clone();
        shifted.rotate_left(251);
        assert_ne!(sum(&shifted).hex(), sum(&data).hex());
    }
}
