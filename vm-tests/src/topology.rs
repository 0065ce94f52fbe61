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

/// client — appliance — server(s); see module docs.
pub struct ThreeTier {
    pub client: Host,
    pub appliance: Host,
    pub servers: Vec<Host>,
    /// Dropped last: the hosts above are handles into it.
    pub lab: Lab,
}

impl ThreeTier {
    /// Builds the topology with `n_servers` server hosts (≥ 1). `Err(skip)` when the
    /// machine cannot run the lab; panics (failing the test) when it can but building
    /// fails.
    pub fn build(n_servers: usize) -> Result<ThreeTier, Skip> {
        let lab = Lab::new()?;
        Ok(ThreeTier::build_in(lab, n_servers)
            .unwrap_or_else(|e| panic!("building the three-tier topology: {e}")))
    }

    /// Builds the topology in `lab`.
    pub fn build_in(lab: Lab, n_servers: usize) -> LabResult<ThreeTier> {
        assert!(n_servers >= 1);
        let client = lab.host("client")?;
        let appliance = lab.host("appliance")?;
        lab.veth(&client, "eth0", &appliance, "front")?;
        client.addr("eth0", &format!("{CLIENT}/24"))?;
        appliance.addr("front", &format!("{FRONT}/24"))?;
        client.default_route(FRONT)?;

        let mut servers = Vec::new();
        if n_servers == 1 {
            let s = lab.host("server")?;
            lab.veth(&s, "eth0", &appliance, "back")?;
            appliance.addr("back", &format!("{BACK}/24"))?;
            servers.push(s);
        } else {
            lab.bridge(&appliance, "br0")?;
            appliance.addr("br0", &format!("{BACK}/24"))?;
            for i in 0..n_servers {
                let s = lab.host(&format!("server{i}"))?;
                lab.attach(&s, "eth0", &appliance, "br0", &format!("port{i}"))?;
                servers.push(s);
            }
        }
        for (i, s) in servers.iter().enumerate() {
            s.addr("eth0", &format!("{}/24", server_addr(i)))?;
            s.default_route(BACK)?;
        }
        Ok(ThreeTier {
            client,
            appliance,
            servers,
            lab,
        })
    }
}
