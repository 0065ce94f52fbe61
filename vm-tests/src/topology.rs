//! Ready-made topologies.
//!
//! [`ThreeTier`]: a `client` host, an `appliance` host and server host(s), on two
//! subnets that meet only at the appliance — which does not route (IP forwarding
//! stays off in a fresh namespace): traffic crosses only because sluice proxies it.
//!
//! ```text
//!  client 10.231.1.2 ─eth0──veth──front─ appliance 10.231.1.1
//!                                         appliance 10.231.2.1 ─back──veth──eth0─ server 10.231.2.10
//!  (or, with several server hosts: back is a bridge `br0`, server i is 10.231.2.(10+i))
//! ```
//!
//! [`Mode`] says who carries the appliance's side: the kernel (epoll mode: the
//! appliance's interfaces hold the addresses) or sluice's userspace stack (poll
//! mode): then the appliance's interfaces hold **no kernel address** and nftables
//! drops their input, so the kernel never answers for sluice (no RST, no ARP);
//! sluice opens them with AF_PACKET, or, in TAP mode, a TAP device per side is
//! bridged with the veth and sluice drives the TAP. [`ThreeTier::netstack`] writes
//! the matching `io-mode`/`netstack` configuration.
//!
//! Owns: its [`Lab`] (so dropping the topology tears everything down).
//! Invariant: all addresses are in 10.231.0.0/16 and exist only in these namespaces.

use crate::detect::Skip;
use crate::netns::{Host, Lab, LabResult};

/// The client's address.
pub const CLIENT: &str = "10.231.1.2";
/// The appliance's client-side address (where sluice binds).
pub const FRONT: &str = "10.231.1.1";
/// The appliance's server-side address (the source of connections to servers).
pub const BACK: &str = "10.231.2.1";

/// The address of server host `i` (0-based).
pub fn server_addr(i: usize) -> String {
    format!("10.231.2.{}", 10 + i)
}

/// How sluice reaches the wire in the appliance host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Kernel sockets (`io-mode epoll`).
    Epoll,
    /// The userspace stack on AF_PACKET rings over the veths (`io-mode poll`).
    PollAfPacket,
    /// The userspace stack on TAP devices bridged with the veths (`io-mode poll`).
    PollTap,
}

impl Mode {
    /// Every mode, for tests that run a scenario in each.
    pub const ALL: [Mode; 3] = [Mode::Epoll, Mode::PollAfPacket, Mode::PollTap];

    /// Whether sluice runs its own stack.
    pub fn is_poll(self) -> bool {
        self != Mode::Epoll
    }
}

/// client — appliance — server(s); see module docs.
pub struct ThreeTier {
    pub client: Host,
    pub appliance: Host,
    pub servers: Vec<Host>,
    /// Who carries the appliance's traffic.
    pub mode: Mode,
    /// The appliance's interfaces sluice opens in poll mode (front, back).
    pub poll_ifaces: Option<(String, String)>,
    /// Dropped last: the hosts above are handles into it.
    pub lab: Lab,
}

impl ThreeTier {
    /// Builds the topology with `n_servers` server hosts (≥ 1). `Err(skip)` when the
    /// machine cannot run the lab; panics (failing the test) when it can but building
    /// fails.
    pub fn build(n_servers: usize) -> Result<ThreeTier, Skip> {
        ThreeTier::build_mode(n_servers, Mode::Epoll)
    }

    /// Builds the topology for `mode`; poll modes also need nftables.
    pub fn build_mode(n_servers: usize, mode: Mode) -> Result<ThreeTier, Skip> {
        if mode.is_poll() {
            crate::detect::tool("nft")?;
        }
        if mode == Mode::PollAfPacket {
            crate::detect::tool("ethtool")?;
        }
        let lab = Lab::new()?;
        Ok(ThreeTier::build_in_mode(lab, n_servers, mode)
            .unwrap_or_else(|e| panic!("building the three-tier topology ({mode:?}): {e}")))
    }

    /// Builds the epoll-mode topology in `lab`.
    pub fn build_in(lab: Lab, n_servers: usize) -> LabResult<ThreeTier> {
        ThreeTier::build_in_mode(lab, n_servers, Mode::Epoll)
    }

    /// Builds the topology in `lab` for `mode`.
    pub fn build_in_mode(lab: Lab, n_servers: usize, mode: Mode) -> LabResult<ThreeTier> {
        assert!(n_servers >= 1);
        let client = lab.host("client")?;
        let appliance = lab.host("appliance")?;
        lab.veth(&client, "eth0", &appliance, "front")?;
        client.addr("eth0", &format!("{CLIENT}/24"))?;
        client.default_route(FRONT)?;

        let mut servers = Vec::new();
        let back = if n_servers == 1 {
            let s = lab.host("server")?;
            lab.veth(&s, "eth0", &appliance, "back")?;
            servers.push(s);
            "back"
        } else {
            lab.bridge(&appliance, "br0")?;
            for i in 0..n_servers {
                let s = lab.host(&format!("server{i}"))?;
                lab.attach(&s, "eth0", &appliance, "br0", &format!("port{i}"))?;
                servers.push(s);
            }
            "br0"
        };
        for (i, s) in servers.iter().enumerate() {
            s.addr("eth0", &format!("{}/24", server_addr(i)))?;
            s.default_route(BACK)?;
        }
        let poll_ifaces = match mode {
            Mode::Epoll => {
                appliance.addr("front", &format!("{FRONT}/24"))?;
                appliance.addr(back, &format!("{BACK}/24"))?;
                None
            }
            Mode::PollAfPacket => {
                // sluice's default AF_PACKET ring has MTU-sized slots: the
                // peers must not send TSO/GSO super-frames (a physical wire
                // never carries them; only veth peers can), nor the interfaces
                // merge received frames (GRO). `gso-repair` is for the rest.
                let hosts: Vec<&Host> = std::iter::once(&client).chain(servers.iter()).collect();
                for h in hosts {
                    ethtool(h, "eth0", &["tso", "off", "gso", "off"])?;
                }
                for i in ["front", back] {
                    ethtool(&appliance, i, &["gro", "off"])?;
                }
                if back == "br0" {
                    // A bridge takes the lowest MAC of its ports unless given one:
                    // a server host vanishing would change the address sluice
                    // answers on. An appliance's port keeps its MAC.
                    appliance.ip(&["link", "set", "br0", "address", "02:53:4c:00:02:01"])?;
                }
                quiet_kernel(&appliance, &["front", back])?;
                Some(("front".to_string(), back.to_string()))
            }
            Mode::PollTap => {
                // front: a bridge holding the veth and the TAP; back: the same, or
                // the servers' bridge.
                lab.bridge(&appliance, "brf")?;
                appliance.ip(&["link", "set", "front", "master", "brf"])?;
                let back_bridge = if back == "br0" {
                    "br0"
                } else {
                    lab.bridge(&appliance, "brb")?;
                    appliance.ip(&["link", "set", "back", "master", "brb"])?;
                    "brb"
                };
                for (tap, br) in [("tfront", "brf"), ("tback", back_bridge)] {
                    appliance.ip(&["tuntap", "add", tap, "mode", "tap"])?;
                    appliance.ip(&["link", "set", tap, "master", br])?;
                    appliance.link_up(tap)?;
                }
                quiet_kernel(&appliance, &["brf", back_bridge, "tfront", "tback"])?;
                Some(("tfront".to_string(), "tback".to_string()))
            }
        };
        Ok(ThreeTier {
            client,
            appliance,
            servers,
            mode,
            poll_ifaces,
            lab,
        })
    }

    /// The `global` line and the `netstack` section sluice needs in this mode
    /// (empty strings in epoll mode): `(global_lines, section)`.
    pub fn netstack(&self) -> (String, String) {
        let Some((front, back)) = &self.poll_ifaces else {
            return (String::new(), String::new());
        };
        let driver = if self.mode == Mode::PollTap {
            "tap"
        } else {
            "af-packet"
        };
        (
            "    io-mode poll\n".to_string(),
            format!(
                "netstack\n    port front {driver} {front}\n    port back {driver} {back}\n    \
                 address front {FRONT}/24\n    address back {BACK}/24\n    idle-backoff 1ms\n\n"
            ),
        )
    }
}

/// `ethtool -K IFACE SETTINGS…` in `host`.
fn ethtool(host: &Host, iface: &str, settings: &[&str]) -> LabResult<()> {
    let mut args = vec!["-K", iface];
    args.extend_from_slice(settings);
    let f = host
        .run("ethtool", &args, std::time::Duration::from_secs(10))
        .map_err(|e| format!("ethtool: {e}"))?;
    if !f.ok() {
        return Err(format!("ethtool {args:?}: {}", f.describe()));
    }
    Ok(())
}

/// The kernel must never answer for sluice on `ifaces`: no IPv6 autoconfiguration
/// chatter, and nftables drops every frame the kernel would take as input there.
fn quiet_kernel(appliance: &Host, ifaces: &[&str]) -> LabResult<()> {
    for i in ifaces {
        let _ = appliance.run(
            "sysctl",
            &["-qw", &format!("net.ipv6.conf.{i}.disable_ipv6=1")],
            std::time::Duration::from_secs(5),
        );
    }
    let set = ifaces
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let rules = format!(
        "table inet sluice_lab {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    iifname {{ {set} }} drop\n  }}\n}}\n"
    );
    let file = appliance
        .dir()
        .join(format!("{}-nft.rules", appliance.ns()));
    std::fs::write(&file, &rules).map_err(|e| format!("{}: {e}", file.display()))?;
    let f = appliance
        .run(
            "nft",
            &["-f".as_ref(), file.as_os_str()],
            std::time::Duration::from_secs(10),
        )
        .map_err(|e| format!("nft: {e}"))?;
    if !f.ok() {
        return Err(format!("nft {rules}: {}", f.describe()));
    }
    Ok(())
}
