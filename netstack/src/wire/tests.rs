//! Tests of the in-memory wire: each fault, queue bounds, determinism.
use super::*;

const T0: Instant = Instant::ZERO;

/// Sends one frame holding `seq` (8 bytes, big-endian) plus padding.
fn send(port: &mut MemoryPort, now: Instant, seq: u64) {
    let tx = port
        .transmit(now)
        .expect("memory ports never refuse a token");
    tx.consume(64, |buf| {
        buf.fill(0xEE);
        buf[..8].copy_from_slice(&seq.to_be_bytes());
    });
}

/// Receives every frame ready at `now`, as sequence numbers.
fn drain(port: &mut MemoryPort, now: Instant) -> Vec<u64> {
    let mut out = Vec::new();
    while let Some((rx, _tx)) = port.receive(now) {
        out.push(rx.consume(|buf| u64::from_be_bytes(buf[..8].try_into().unwrap())));
    }
    out
}

fn one_way(faults: LinkFaults, seed: u64) -> (MemoryPort, MemoryPort) {
    MemoryWire::pair(WireConfig {
        seed,
        capabilities: PortCapabilities::ETHERNET,
        a_to_b: faults,
        b_to_a: LinkFaults::default(),
    })
}

#[test]
fn clean_wire_delivers_everything_in_order_both_ways() {
    let (mut a, mut b) = MemoryWire::pair(WireConfig::clean(1));
    for i in 0..100 {
        send(&mut a, T0, i);
        send(&mut b, T0, 1000 + i);
    }
    assert_eq!(drain(&mut b, T0), (0..100).collect::<Vec<_>>());
    assert_eq!(drain(&mut a, T0), (1000..1100).collect::<Vec<_>>());
    let c = a.counters();
    assert_eq!(
        (c.tx_frames, c.tx_bytes, c.rx_frames, c.rx_bytes),
        (100, 6400, 100, 6400)
    );
    assert_eq!((c.tx_dropped, c.rx_dropped), (0, 0));
    assert_eq!(a.outbound_counters(), b.inbound_counters());
    assert_eq!(a.outbound_counters().delivered, 100);
    assert!(a.receive(T0).is_none() && b.receive(T0).is_none());
}

#[test]
fn rx_token_hands_out_the_frame_and_the_reply_token_sends() {
    let (mut a, mut b) = MemoryWire::pair(WireConfig::clean(1));
    send(&mut a, T0, 7);
    let (rx, tx) = b.receive(T0).unwrap();
    let seq = rx.consume(|buf| {
        assert_eq!(buf.len(), 64);
        u64::from_be_bytes(buf[..8].try_into().unwrap())
    });
    tx.consume(64, |buf| buf[..8].copy_from_slice(&(seq + 1).to_be_bytes()));
    assert_eq!(drain(&mut a, T0), vec![8]);
}

#[test]
fn dropped_tokens_neither_send_nor_lose() {
    let (mut a, mut b) = MemoryWire::pair(WireConfig::clean(1));
    {
        let _unused = a.transmit(T0);
    }
    assert_eq!(a.counters().tx_frames, 0);
    assert!(b.receive(T0).is_none());

    send(&mut a, T0, 5);
    {
        let _unused = b.receive(T0).unwrap(); // neither token consumed
    }
    assert_eq!(b.counters().rx_frames, 0);
    assert_eq!(a.counters().rx_frames + a.inbound_in_flight() as u64, 0);
    assert_eq!(drain(&mut b, T0), vec![5]);
}

#[test]
fn loss_drops_about_the_given_share_and_counts_it() {
    let (mut a, mut b) = one_way(
        LinkFaults {
            loss: 0.05,
            ..LinkFaults::default()
        },
        42,
    );
    let mut got = Vec::new();
    for i in 0..10_000 {
        send(&mut a, T0, i);
        got.extend(drain(&mut b, T0));
    }
    let lc = a.outbound_counters();
    assert_eq!(lc.accepted, 10_000);
    assert!((400..=600).contains(&lc.lost), "lost {}", lc.lost);
    assert_eq!(got.len() as u64, 10_000 - lc.lost);
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "loss alone keeps order"
    );
    // Loss is the wire's, not the port's.
    assert_eq!(a.counters().tx_dropped, 0);
    assert_eq!(a.counters().tx_frames, 10_000);

    let (mut a, mut b) = one_way(
        LinkFaults {
            loss: 1.0,
            ..LinkFaults::default()
        },
        42,
    );
    for i in 0..100 {
        send(&mut a, T0, i);
    }
    assert!(drain(&mut b, T0).is_empty());
    assert_eq!(a.outbound_counters().lost, 100);
}

#[test]
fn duplication_delivers_copies_right_behind() {
    let (mut a, mut b) = one_way(
        LinkFaults {
            duplicate: 1.0,
            ..LinkFaults::default()
        },
        3,
    );
    for i in 0..10 {
        send(&mut a, T0, i);
    }
    let want: Vec<u64> = (0..10).flat_map(|i| [i, i]).collect();
    assert_eq!(drain(&mut b, T0), want);
    assert_eq!(a.outbound_counters().duplicated, 10);
    assert_eq!(a.counters().tx_frames, 10, "copies are not the sender's");
    assert_eq!(b.counters().rx_frames, 20);

    let (mut a, mut b) = one_way(
        LinkFaults {
            duplicate: 0.02,
            ..LinkFaults::default()
        },
        3,
    );
    let mut got = Vec::new();
    for i in 0..10_000 {
        send(&mut a, T0, i);
        got.extend(drain(&mut b, T0));
    }
    let dups = a.outbound_counters().duplicated;
    assert!((120..=280).contains(&dups), "duplicated {dups}");
    assert_eq!(got.len() as u64, 10_000 + dups);
    assert!(got.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn reorder_holds_a_frame_behind_exactly_gap_later_frames() {
    // Every other frame would be held if the gap never released them, so use
    // a low probability and check each held frame's displacement.
    let gap = 3;
    let (mut a, mut b) = one_way(
        LinkFaults {
            reorder: 0.05,
            reorder_gap: gap,
            ..LinkFaults::default()
        },
        9,
    );
    let n = 5_000u64;
    let mut got = Vec::new();
    for i in 0..n {
        send(&mut a, T0, i);
        got.extend(drain(&mut b, T0));
    }
    // Frames at the tail may wait for later frames: push a few more (with
    // reordering still on) until nothing is held.
    let mut sent = n;
    while b.inbound_in_flight() > 0 {
        send(&mut a, T0, sent);
        sent += 1;
        got.extend(drain(&mut b, T0));
        assert!(sent < n + 1_000, "held frames never released");
    }
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert!(
        sorted.iter().copied().eq(0..sent),
        "something lost or doubled"
    );
    assert!(got != sorted, "some frames out of order");

    let held = a.outbound_counters().reordered;
    assert!((150..=350).contains(&held), "reordered {held}");
    // For each frame, how many later-sent frames were delivered before it.
    let mut overtaken_exactly_gap = 0;
    for (pos, &seq) in got.iter().enumerate() {
        let overtakers = got[..pos].iter().filter(|&&s| s > seq).count() as u32;
        assert!(
            overtakers == 0 || overtakers >= gap,
            "frame {seq} overtaken by {overtakers}"
        );
        if overtakers == gap {
            overtaken_exactly_gap += 1;
        }
    }
    assert!(overtaken_exactly_gap as u64 >= held * 3 / 4);
}

#[test]
fn delay_holds_frames_until_their_time() {
    let (mut a, mut b) = one_way(
        LinkFaults {
            delay_ms: 5,
            ..LinkFaults::default()
        },
        1,
    );
    send(&mut a, Instant::from_millis(10), 1);
    send(&mut a, Instant::from_millis(12), 2);
    assert_eq!(b.next_arrival(), Some(Instant::from_millis(15)));
    assert!(b.receive(Instant::from_micros(14_999)).is_none());
    assert_eq!(drain(&mut b, Instant::from_millis(15)), vec![1]);
    assert_eq!(b.next_arrival(), Some(Instant::from_millis(17)));
    assert_eq!(drain(&mut b, Instant::from_millis(100)), vec![2]);
    assert_eq!(b.next_arrival(), None);
    // The other direction has no delay.
    send(&mut b, Instant::from_millis(100), 3);
    assert_eq!(drain(&mut a, Instant::from_millis(100)), vec![3]);
}

#[test]
fn delay_keeps_fifo_when_now_steps_back() {
    let (mut a, mut b) = one_way(
        LinkFaults {
            delay_ms: 5,
            ..LinkFaults::default()
        },
        1,
    );
    send(&mut a, Instant::from_millis(10), 1);
    send(&mut a, Instant::from_millis(2), 2); // caller's clock went back
    assert_eq!(drain(&mut b, Instant::from_millis(8)), Vec::<u64>::new());
    assert_eq!(drain(&mut b, Instant::from_millis(15)), vec![1, 2]);
}

#[test]
fn full_queue_tail_drops_and_counts() {
    let (mut a, mut b) = one_way(
        LinkFaults {
            queue_capacity: 4,
            ..LinkFaults::default()
        },
        1,
    );
    for i in 0..10 {
        send(&mut a, T0, i);
    }
    assert_eq!(b.inbound_in_flight(), 4);
    let c = a.counters();
    assert_eq!((c.tx_frames, c.tx_dropped), (4, 6));
    assert_eq!(a.outbound_counters().queue_dropped, 6);
    assert_eq!(
        drain(&mut b, T0),
        vec![0, 1, 2, 3],
        "tail drop keeps the head"
    );
    send(&mut a, T0, 10);
    assert_eq!(drain(&mut b, T0), vec![10], "room again once drained");
}

#[test]
fn queue_bound_counts_held_and_delayed_frames() {
    let (mut a, mut b) = one_way(
        LinkFaults {
            queue_capacity: 8,
            delay_ms: 1,
            duplicate: 1.0,
            ..LinkFaults::default()
        },
        1,
    );
    for i in 0..10 {
        send(&mut a, T0, i);
    }
    assert!(b.inbound_in_flight() <= 8);
    assert!(b.receive(T0).is_none(), "delayed");
    let got = drain(&mut b, Instant::from_millis(1));
    assert_eq!(got, vec![0, 0, 1, 1, 2, 2, 3, 3]);
    assert_eq!(a.counters().tx_dropped, 6);
}

#[test]
fn oversize_frames_are_dropped_and_counted() {
    let (mut a, mut b) = MemoryWire::pair(WireConfig::clean(1));
    let r = a.transmit(T0).unwrap().consume(1515, |buf| buf.len());
    assert_eq!(r, 1515, "the closure still runs");
    assert!(b.receive(T0).is_none());
    assert_eq!(a.counters().tx_dropped, 1);
    assert_eq!(a.outbound_counters().oversize, 1);
    a.transmit(T0).unwrap().consume(1514, |buf| buf.fill(1));
    assert_eq!(b.receive(T0).unwrap().0.consume(|buf| buf.len()), 1514);
}

/// (step, sequence number) of every frame received, in order.
type Trace = Vec<(i64, u64)>;

/// Runs a fixed script with every fault on, both ways; returns everything
/// observable.
fn script(seed: u64) -> (Trace, Trace, LinkCounters, LinkCounters) {
    let faults = LinkFaults {
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.1,
        reorder_gap: 2,
        delay_ms: 3,
        queue_capacity: 8,
    };
    let (mut a, mut b) = MemoryWire::pair(WireConfig::symmetric(seed, faults));
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    for step in 0..2_000i64 {
        let now = Instant::from_millis(step);
        for k in 0..(step % 4) as u64 {
            send(&mut a, now, step as u64 * 10 + k);
        }
        send(&mut b, now, step as u64);
        if step % 3 == 0 {
            at_b.extend(drain(&mut b, now).into_iter().map(|s| (step, s)));
        }
        at_a.extend(drain(&mut a, now).into_iter().map(|s| (step, s)));
    }
    (at_a, at_b, a.outbound_counters(), b.outbound_counters())
}

#[test]
fn same_seed_same_calls_same_deliveries() {
    let first = script(0xDEC0DE);
    let second = script(0xDEC0DE);
    assert_eq!(first, second);
    let (_, _, ab, ba) = &first;
    for c in [ab, ba] {
        assert!(c.lost > 0 && c.duplicated > 0 && c.reordered > 0, "{c:?}");
    }
    assert!(ab.queue_dropped > 0, "{ab:?}");
    assert_ne!(first, script(0xDEC0DF), "another seed, another pattern");
}

#[test]
fn directions_are_independent() {
    let (mut a, mut b) = one_way(
        LinkFaults {
            loss: 1.0,
            ..LinkFaults::default()
        },
        1,
    );
    send(&mut a, T0, 1);
    send(&mut b, T0, 2);
    assert!(drain(&mut b, T0).is_empty());
    assert_eq!(drain(&mut a, T0), vec![2]);
}

#[test]
fn bad_configs_are_refused_with_the_field_named() {
    let mut c = WireConfig::clean(1);
    c.b_to_a.loss = 1.5;
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("b_to_a.loss = 1.5"), "{e}");
    c.b_to_a.loss = f64::NAN;
    assert!(c.validate().is_err());

    let mut c = WireConfig::clean(1);
    c.a_to_b.reorder = 0.1;
    c.a_to_b.reorder_gap = 0;
    assert_eq!(
        c.validate(),
        Err(WireConfigError::ZeroReorderGap {
            direction: "a_to_b"
        })
    );
    let mut c = WireConfig::clean(1);
    c.a_to_b.queue_capacity = 0;
    assert!(c.validate().is_err());
    let r = std::panic::catch_unwind(|| MemoryWire::pair(c));
    assert!(r.is_err());
}
