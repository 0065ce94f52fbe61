//! The fanout steering program: classic BPF that computes
//! [`steer::queue_of_frame`](crate::steer::queue_of_frame) in the kernel.
//!
//! With `PACKET_FANOUT_CBPF`, the kernel runs this program on every frame of
//! the fanout group and delivers the frame to member `result % members`
//! (members numbered in the order they joined; the driver joins queue 0
//! first). The program returns `(tcp_src_port ^ tcp_dst_port) % n` for IPv4/TCP
//! frames that are unfragmented or first fragments, and 0 for everything else
//! (ARP, ICMP, later fragments, frames too short to tell).
//!
//! Loads are relative to the network header (`SKF_NET_OFF`) and the EtherType
//! is the ancillary `SKF_AD_PROTOCOL`, so the program does not depend on where
//! the kernel's `skb->data` points when it runs (the network header on
//! ingress). A load past the end of the frame ends the program with 0, which is
//! also what `queue_of_frame` answers for short frames.
//!
//! Pure code; the test carries a small interpreter of the instructions used
//! and checks it against `queue_of_frame` on crafted frames.

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

// Instruction classes, sizes, modes, operations (linux/filter.h).
pub(crate) const LD: u16 = 0x00;
pub(crate) const LDX: u16 = 0x01;
pub(crate) const ST: u16 = 0x02;
pub(crate) const ALU: u16 = 0x04;
pub(crate) const JMP: u16 = 0x05;
pub(crate) const RET: u16 = 0x06;
pub(crate) const MISC: u16 = 0x07;
pub(crate) const W: u16 = 0x00;
pub(crate) const H: u16 = 0x08;
pub(crate) const B: u16 = 0x10;
pub(crate) const ABS: u16 = 0x20;
pub(crate) const IND: u16 = 0x40;
pub(crate) const MEM: u16 = 0x60;
pub(crate) const AND: u16 = 0x50;
pub(crate) const LSH: u16 = 0x60;
pub(crate) const MOD: u16 = 0x90;
pub(crate) const XOR: u16 = 0xa0;
pub(crate) const JEQ: u16 = 0x10;
pub(crate) const JSET: u16 = 0x40;
pub(crate) const K: u16 = 0x00;
pub(crate) const X: u16 = 0x08;
pub(crate) const A: u16 = 0x10;
pub(crate) const TAX: u16 = 0x00;

/// Base of the ancillary-data loads.
pub const SKF_AD_OFF: i32 = -0x1000;
/// Ancillary: `ntohs(skb->protocol)`, the EtherType.
pub const SKF_AD_PROTOCOL: i32 = 0;
/// Base of loads relative to the network header.
pub const SKF_NET_OFF: i32 = -0x100000;

const fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

const fn net(off: i32) -> u32 {
    (SKF_NET_OFF + off) as u32
}

/// The steering program for `queues` queues (at least 1).
pub fn steering_program(queues: u16) -> Vec<Insn> {
    let n = u32::from(queues.max(1));
    // Index of the final `ret #0`; jumps below are relative to the next insn.
    const RET0: u8 = 20;
    let to_ret0 = |at: u8| RET0 - at - 1;
    vec![
        /* 0 */ stmt(LD | W | ABS, (SKF_AD_OFF + SKF_AD_PROTOCOL) as u32),
        /* 1 */ jump(JMP | JEQ | K, 0x0800, 0, to_ret0(1)),
        /* 2 */ stmt(LD | B | ABS, net(0)),
        /* 3 */ stmt(ALU | AND | K, 0xf0),
        /* 4 */ jump(JMP | JEQ | K, 0x40, 0, to_ret0(4)),
        /* 5 */ stmt(LD | B | ABS, net(9)),
        /* 6 */ jump(JMP | JEQ | K, 6, 0, to_ret0(6)),
        /* 7 */ stmt(LD | H | ABS, net(6)),
        /* 8 */ jump(JMP | JSET | K, 0x1fff, to_ret0(8), 0),
        /* 9 */ stmt(LD | B | ABS, net(0)),
        /* 10 */ stmt(ALU | AND | K, 0x0f),
        /* 11 */ stmt(ALU | LSH | K, 2),
        /* 12 */ stmt(MISC | TAX, 0),
        /* 13 */ stmt(LD | H | IND, net(0)),
        /* 14 */ stmt(ST, 0),
        /* 15 */ stmt(LD | H | IND, net(2)),
        /* 16 */ stmt(LDX | W | MEM, 0),
        /* 17 */ stmt(ALU | XOR | X, 0),
        /* 18 */ stmt(ALU | MOD | K, n),
        /* 19 */ stmt(RET | A, 0),
        /* 20 */ stmt(RET | K, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steer;

    /// Runs `prog` on an Ethernet `frame` the way the kernel's fanout does:
    /// network-relative loads start after the 14-byte Ethernet header, the
    /// protocol is the EtherType, an out-of-bounds load returns 0.
    fn run(prog: &[Insn], frame: &[u8]) -> u32 {
        let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
        let load = |off: i64, size: usize| -> Option<u32> {
            if off >= i64::from(SKF_AD_OFF) && off < 0 {
                assert_eq!(size, 4);
                assert_eq!(off, i64::from(SKF_AD_OFF + SKF_AD_PROTOCOL));
                return Some(u32::from(u16::from_be_bytes([
                    *frame.get(12)?,
                    *frame.get(13)?,
                ])));
            }
            assert!(off >= i64::from(SKF_NET_OFF) && off < i64::from(SKF_AD_OFF));
            let at = 14 + (off - i64::from(SKF_NET_OFF)) as usize;
            let b = frame.get(at..at + size)?;
            Some(b.iter().fold(0u32, |v, &x| (v << 8) | u32::from(x)))
        };
        let mut pc = 0usize;
        for _ in 0..1000 {
            let i = prog[pc];
            pc += 1;
            let size = match i.code & 0x18 {
                W => 4,
                H => 2,
                _ => 1,
            };
            match i.code & 0x07 {
                LD => {
                    let off = match i.code & 0xe0 {
                        ABS => i64::from(i.k as i32),
                        IND => i64::from(x) + i64::from(i.k as i32),
                        m => panic!("ld mode {m:#x}"),
                    };
                    match load(off, size) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                LDX => {
                    assert_eq!(i.code & 0xe0, MEM);
                    x = mem[i.k as usize];
                }
                ST => mem[i.k as usize] = a,
                ALU => {
                    let v = if i.code & X != 0 { x } else { i.k };
                    a = match i.code & 0xf0 {
                        AND => a & v,
                        LSH => a << v,
                        XOR => a ^ v,
                        MOD => a % v,
                        op => panic!("alu {op:#x}"),
                    };
                }
                JMP => {
                    let t = match i.code & 0xf0 {
                        JEQ => a == i.k,
                        JSET => a & i.k != 0,
                        op => panic!("jmp {op:#x}"),
                    };
                    pc += usize::from(if t { i.jt } else { i.jf });
                }
                RET => return if i.code & A != 0 { a } else { i.k },
                MISC => {
                    assert_eq!(i.code, MISC | TAX);
                    x = a;
                }
                c => panic!("class {c:#x}"),
            }
        }
        panic!("program did not end");
    }

    fn frame(sport: u16, dport: u16, proto: u8, frag: u16, ihl_words: u8) -> Vec<u8> {
        let ihl = usize::from(ihl_words) * 4;
        let mut f = vec![0u8; 14 + ihl + 20];
        f[12] = 0x08;
        f[14] = 0x40 | ihl_words;
        f[14 + 9] = proto;
        f[14 + 6..14 + 8].copy_from_slice(&frag.to_be_bytes());
        f[14 + ihl..16 + ihl].copy_from_slice(&sport.to_be_bytes());
        f[16 + ihl..18 + ihl].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn program_agrees_with_queue_of_frame() {
        let ports = [0u16, 1, 80, 443, 8080, 32768, 40001, 54321, 65535];
        let mut frames = Vec::new();
        for &s in &ports {
            for &d in &ports {
                frames.push(frame(s, d, 6, 0, 5));
                frames.push(frame(s, d, 6, 0x4000, 5)); // DF: still steered
                frames.push(frame(s, d, 6, 0x2000, 5)); // first fragment (MF)
                frames.push(frame(s, d, 6, 0x0010, 5)); // later fragment
                frames.push(frame(s, d, 6, 0, 7)); // IP options
                frames.push(frame(s, d, 17, 0, 5)); // UDP
            }
        }
        let tcp = frame(40001, 80, 6, 0, 5);
        let mut arp = tcp.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        frames.push(arp);
        let mut v6 = tcp.clone();
        v6[14] = 0x65;
        frames.push(v6);
        for cut in [0, 13, 14, 30, 34, 35, 36, 37] {
            frames.push(tcp[..cut].to_vec());
        }
        let mut steered = 0;
        for n in 1..=5u16 {
            let prog = steering_program(n);
            for f in &frames {
                let want = steer::queue_of_frame(f, n);
                assert_eq!(run(&prog, f), u32::from(want), "n={n} frame={f:02x?}");
                steered += usize::from(want != 0);
            }
        }
        assert!(steered > 100, "the test frames reach queues other than 0");
    }

    #[test]
    fn jumps_stay_inside_the_program() {
        let p = steering_program(2);
        for (pc, i) in p.iter().enumerate() {
            if i.code & 0x07 == JMP {
                assert!(pc + 1 + usize::from(i.jt) < p.len());
                assert!(pc + 1 + usize::from(i.jf) < p.len());
            }
        }
        assert_eq!(p.last().unwrap().code, RET | K);
        assert_eq!(steering_program(0)[18].k, 1, "at least one queue");
    }
}
