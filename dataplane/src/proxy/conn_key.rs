//! [`ConnKey`]: what makes an idle server connection reusable for a request — the
//! server, the name (SNI) it was opened with, and the destination/source when those
//! are chosen per connection — folded into one 64-bit key, HAProxy's
//! `conn_hash_digest` way: the top bits say which parameters took part.
//!
//! Invariant: keys of different parameter sets collide only by hash accident (57
//! bits); the name is already a keyed hash of the SNI, so a client choosing names
//! cannot aim at another connection's key.

use std::net::SocketAddr;

/// Hash of what makes a connection reusable. Like HAProxy's `conn_hash_digest`,
/// the top bits say which parameters took part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnKey(pub u64);

const KEY_NAME: u64 = 1 << 63;
const KEY_DST: u64 = 1 << 62;
const KEY_SRC: u64 = 1 << 61;
const KEY_HASH_BITS: u64 = (1 << 57) - 1;

impl ConnKey {
    /// The key of a connection to `server` opened with name hash `name` (the SNI
    /// key, 0: none), to `dst` from `src` when those are chosen per connection.
    pub fn new(
        server: usize,
        name: u64,
        dst: Option<SocketAddr>,
        src: Option<SocketAddr>,
    ) -> ConnKey {
        // A fixed mix (murmur3's finaliser after each word), not SipHash: this runs
        // twice per request, and `name` is already a keyed hash of the SNI (an
        // attacker who controls the name cannot aim at another key).
        let mut h = mix(0x6a09_e667_f3bc_c908, server as u64);
        h = mix(h, name);
        for (tag, a) in [(1u64, dst), (2, src)] {
            match a {
                None => h = mix(h, tag << 56),
                Some(SocketAddr::V4(v)) => {
                    h = mix(h, (tag << 56) | 4 << 48 | u64::from(v.port()) << 32);
                    h = mix(h, u64::from(u32::from(*v.ip())));
                }
                Some(SocketAddr::V6(v)) => {
                    let ip = u128::from(*v.ip());
                    h = mix(h, (tag << 56) | 6 << 48 | u64::from(v.port()) << 32);
                    h = mix(h, (ip >> 64) as u64);
                    h = mix(h, ip as u64);
                }
            }
        }
        let mut mask = 0;
        if name != 0 {
            mask |= KEY_NAME;
        }
        if dst.is_some() {
            mask |= KEY_DST;
        }
        if src.is_some() {
            mask |= KEY_SRC;
        }
        ConnKey(mask | (h & KEY_HASH_BITS))
    }
}

/// One step of [`ConnKey::new`]: fold `word` into `h` (murmur3 `fmix64`).
fn mix(h: u64, word: u64) -> u64 {
    let mut x = h ^ word;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parameter_changes_the_key_and_the_top_bits_say_which_took_part() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:81".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        let keys = [
            ConnKey::new(0, 0, None, None),
            ConnKey::new(1, 0, None, None),
            ConnKey::new(0, 7, None, None),
            ConnKey::new(0, 0, Some(a), None),
            ConnKey::new(0, 0, Some(b), None),
            ConnKey::new(0, 0, Some(v6), None),
            ConnKey::new(0, 0, None, Some(a)),
        ];
        for (i, x) in keys.iter().enumerate() {
            for y in &keys[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(keys[0], ConnKey::new(0, 0, None, None), "deterministic");
        assert_eq!(keys[0].0 & !KEY_HASH_BITS, 0);
        assert_eq!(keys[2].0 & !KEY_HASH_BITS, KEY_NAME);
        assert_eq!(keys[3].0 & !KEY_HASH_BITS, KEY_DST);
        assert_eq!(keys[6].0 & !KEY_HASH_BITS, KEY_SRC);
    }
}
