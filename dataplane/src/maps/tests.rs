//! The store: building from a configuration, updates, lookups through uses.

use appliance_config::model::pattern::{MapOutput, PatRef};
use appliance_config::model::sample::MatchMethod;

use super::*;

fn cfg(dir: &std::path::Path) -> appliance_config::Config {
    let m = dir.join("hosts.map");
    std::fs::write(&m, "a.com be_a\nb.com be_b\n").unwrap();
    let text = format!(
        "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend f\n bind :80\n use_backend %[req.hdr(host),map({m},be_a)]\n use_backend %[path,map_beg({m})]\n default_backend be_a\nbackend be_a\n server s 127.0.0.1:1\n",
        m = m.display()
    );
    appliance_config::load_str("t.cfg", &text).unwrap().config
}

fn dir() -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "sluice-maps-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn val(st: &mut PatternStore, p: PatRef, k: &str) -> Option<String> {
    let id = st.lookup(p, &Sample::Str(k.as_bytes()))?;
    Some(st.file(p.file)?.entry(id)?.value.to_string())
}

#[test]
fn updates_change_every_use() {
    let d = dir();
    let c = cfg(&d);
    let mut st = PatternStore::from_config(&c);
    let exact = PatRef {
        file: 0,
        use_idx: 0,
    };
    let beg = PatRef {
        file: 0,
        use_idx: 1,
    };
    assert_eq!(c.pattern_files[0].uses[1].method, MatchMethod::Beg);
    assert_eq!(val(&mut st, exact, "a.com").as_deref(), Some("be_a"));
    assert_eq!(val(&mut st, beg, "b.com/x").as_deref(), Some("be_b"));
    let ids: Vec<u64> = st
        .file(0)
        .unwrap()
        .entries()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ids, [1, 2], "config entries are numbered in file order");
    let up = |file, key: &str, value: &str| Update::Set {
        file,
        key: key.into(),
        value: value.into(),
    };
    st.apply(&up(0, "a.com", "be_x")).unwrap();
    assert_eq!(val(&mut st, exact, "a.com").as_deref(), Some("be_x"));
    assert_eq!(st.apply(&up(0, "zzz", "v")), Err(UpdateError::NotFound));
    assert_eq!(
        st.apply(&up(9, "a.com", "v")),
        Err(UpdateError::UnknownFile)
    );
    let id = new_id();
    assert!(id >= RUNTIME_IDS);
    st.apply(&Update::Add {
        file: 0,
        id,
        key: "c.com".into(),
        value: "be_c".into(),
    })
    .unwrap();
    assert_eq!(val(&mut st, exact, "c.com").as_deref(), Some("be_c"));
    assert_eq!(val(&mut st, beg, "c.com/y").as_deref(), Some("be_c"));
    st.apply(&Update::Del {
        file: 0,
        key: "c.com".into(),
    })
    .unwrap();
    assert_eq!(val(&mut st, exact, "c.com"), None);
    st.apply(&Update::SetOrAdd {
        file: 0,
        id: new_id(),
        key: "d.com".into(),
        value: "be_d".into(),
    })
    .unwrap();
    assert_eq!(val(&mut st, exact, "d.com").as_deref(), Some("be_d"));
    st.apply(&Update::DelId { file: 0, id: 1 }).unwrap();
    assert_eq!(val(&mut st, exact, "a.com"), None);
    st.apply(&Update::Clear { file: 0 }).unwrap();
    assert!(st.file(0).unwrap().is_empty());
    assert_eq!(val(&mut st, beg, "b.com"), None);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn converter_reads_the_thread_store() {
    let d = dir();
    let c = cfg(&d);
    install(PatternStore::from_config(&c), 0);
    let p = PatRef {
        file: 0,
        use_idx: 0,
    };
    let got = map_lookup(p, &Sample::Str(b"b.com"), None, |v| v.to_vec());
    assert_eq!(got.as_deref(), Some(&b"be_b"[..]));
    let dflt = map_lookup(p, &Sample::Str(b"nope"), Some("dd"), |v| v.to_vec());
    assert_eq!(dflt.as_deref(), Some(&b"dd"[..]));
    assert!(map_lookup(p, &Sample::Str(b"nope"), None, |_| ()).is_none());
    assert_eq!(typed_value(MapOutput::Int, b"42"), Some(Sample::Int(42)));
    assert_eq!(typed_value(MapOutput::Int, b"x"), None);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn updates_apply_in_sequence_order_and_gaps_are_skipped() {
    let d = dir();
    let c = cfg(&d);
    install(PatternStore::from_config(&c), 0);
    let p = PatRef {
        file: 0,
        use_idx: 0,
    };
    let now = |k: &str| with_store(|s| val(s, p, k));
    let set = |seq, v: &str| {
        Arc::new(Sequenced {
            seq,
            up: Update::Set {
                file: 0,
                key: "a.com".into(),
                value: v.into(),
            },
        })
    };
    // Update 2 arrives before 1: held back until 1 is applied.
    deliver(set(2, "v2"), None, 0);
    assert_eq!(now("a.com").as_deref(), Some("be_a"));
    deliver(set(1, "v1"), None, 0);
    assert_eq!(now("a.com").as_deref(), Some("v2"), "1 then 2");
    // Update 3 is lost: 4 waits GAP_MS, then goes ahead.
    let lost = dropped_updates();
    deliver(set(4, "v4"), None, 10);
    tick(10 + GAP_MS - 1);
    assert_eq!(now("a.com").as_deref(), Some("v2"));
    tick(10 + GAP_MS);
    assert_eq!(now("a.com").as_deref(), Some("v4"));
    assert!(dropped_updates() > lost);
    // A late copy of 3 is not applied out of order.
    let (tx, rx) = std::sync::mpsc::channel();
    deliver(set(3, "v3"), Some(tx), 500);
    assert_eq!(now("a.com").as_deref(), Some("v4"));
    assert!(rx.recv().unwrap().is_err());
    std::fs::remove_dir_all(&d).ok();
}
