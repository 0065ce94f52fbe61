//! The lab itself: topologies are built as described, isolated from the root
//! namespace, and torn down on drop — also when the test panics.

use std::path::Path;
use std::time::Duration;
use vm_tests::{cmd, skip_unless, topology, Host, Lab, ThreeTier};

fn namespaces() -> String {
    cmd::ip(&["netns", "list"]).unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    // A zombie is not alive: it only waits to be reaped.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

const ORIGIN: &str = env!("CARGO_BIN_EXE_lab-origin");
const CLIENT: &str = env!("CARGO_BIN_EXE_lab-client");

#[test]
fn three_tier_connects_client_to_appliance_only() {
    let t = skip_unless!(ThreeTier::build(2));
    let a0 = topology::server_addr(0);
    let o0 = t.servers[0]
        .spawn(
            "o0",
            ORIGIN,
            &["--name", "s0", "--http", &format!("{a0}:8001")],
        )
        .unwrap();
    o0.wait_listening(&[8001], Duration::from_secs(10)).unwrap();
    let o1 = t
        .appliance
        .spawn(
            "o1",
            ORIGIN,
            &[
                "--name",
                "app",
                "--http",
                &format!("{}:8001", topology::FRONT),
            ],
        )
        .unwrap();
    o1.wait_listening(&[8001], Duration::from_secs(10)).unwrap();
    let reach = |h: &Host, addr: &str| {
        let mut c = h.command(CLIENT);
        c.args(["get", addr, "/", "1"])
            .env("LAB_CONNECT_TIMEOUT_MS", "500");
        let f = cmd::run(&mut c, Duration::from_secs(10)).unwrap();
        f.ok() && f.stdout_str().starts_with("200 ")
    };
    assert!(reach(&t.client, &format!("{}:8001", topology::FRONT)));
    assert!(reach(&t.appliance, &format!("{a0}:8001")));
    assert!(
        reach(&t.servers[1], &format!("{a0}:8001")),
        "through the bridge"
    );
    // The appliance does not route: the client cannot reach a server directly.
    assert!(!reach(&t.client, &format!("{a0}:8001")));
    // Nothing of the lab is visible in the root namespace.
    let root = cmd::ip(&["-o", "addr"]).unwrap();
    assert!(
        !root.contains("10.231."),
        "root namespace untouched:\n{root}"
    );
}

#[test]
fn teardown_on_panic_kills_processes_and_deletes_namespaces() {
    skip_unless!(vm_tests::detect::lab());
    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::thread::spawn(move || {
        let lab = Lab::new().unwrap();
        let a = lab.host("a").unwrap();
        let b = lab.host("b").unwrap();
        lab.veth(&a, "eth0", &b, "eth0").unwrap();
        let p = a.spawn("sleeper", "sleep", &["600"]).unwrap();
        tx.send((lab.prefix().to_string(), p.pid())).unwrap();
        std::mem::forget(p); // only the lab can clean it up now
        panic!("intentional panic: the lab must still be torn down");
    })
    .join();
    assert!(r.is_err(), "the thread panicked");
    let (prefix, pid) = rx.recv().unwrap();
    assert!(!alive(pid), "process {pid} killed");
    assert!(
        !namespaces().contains(&prefix),
        "namespaces gone:\n{}",
        namespaces()
    );
    assert!(!Path::new("/run/netns").join(format!("{prefix}-a")).exists());
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&prefix)); // kept: it panicked
}
