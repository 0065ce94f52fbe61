//! Poll mode in the binary: turns the `netstack` section into one userspace
//! TCP/IP stack per worker, each on its own receive queue of every port.
//!
//! Owns: [`PollPlan`] (decided once, before workers start: worker count, MACs,
//! fanout groups, the ARP exchange) and [`PollPlan::driver`] (run on each
//! worker's thread: opens that worker's queue of every port and builds its
//! [`PollDriver`]). The dataplane never learns which I/O mode it runs on.
//!
//! Invariants: worker `i` owns queue `i` of every port and nothing else (AF_PACKET
//! fanout with sluice's steering program, so a connection's frames, both
//! directions, reach one core); a TAP port has one queue, so poll mode with a TAP
//! port runs one worker; an explicit `nbthread` that disagrees with a port's
//! `queues` is a start-up error naming both lines, never a silent change.

use std::sync::Arc;
use std::time::Duration;

use appliance_config::model::netstack::{NetDriver, NetPort, NetQueues, Netstack};
use appliance_config::Config;
use netstack::any_port::AnyPort;
use netstack::poll_driver::{ArpExchange, IdlePolicy, PollDriver};
use netstack::port::Instant;
use netstack::stack::{NicConfig, RouteConfig, Stack, StackConfig};

/// What every worker needs to open its share of the ports.
pub struct PollPlan {
    ns: Netstack,
    workers: usize,
    macs: Vec<[u8; 6]>,
    fanout_base: u16,
    arp: Arc<ArpExchange>,
}

impl PollPlan {
    /// Decides the worker count and MACs from the configuration; `nbthread` is the
    /// configured count (`None`: derive it from the ports).
    pub fn new(cfg: &Config, nbthread: Option<usize>, cpus: usize) -> Result<PollPlan, String> {
        let ns = cfg
            .global
            .netstack
            .clone()
            .ok_or("io-mode poll needs a 'netstack' section")?;
        let mut workers = nbthread;
        for p in &ns.ports {
            let fixed = match (&p.driver, p.queues) {
                (NetDriver::Tap { .. }, _) => Some(1),
                (_, NetQueues::Count(n)) => Some(n as usize),
                (_, NetQueues::Auto) => None,
            };
            if let Some(n) = fixed {
                match workers {
                    None => workers = Some(n),
                    Some(w) if w != n => {
                        return Err(format!(
                            "[{}] : port '{}' has {n} queue(s) ({}) but poll mode runs one worker per queue and {w} workers are configured: set 'nbthread {n}'{}",
                            p.location,
                            p.name,
                            if matches!(p.driver, NetDriver::Tap { .. }) {
                                "a tap device has one"
                            } else {
                                "its 'queues'"
                            },
                            if matches!(p.driver, NetDriver::Tap { .. }) {
                                " or use an af-packet port"
                            } else {
                                " or 'queues auto'"
                            }
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        let workers = workers.unwrap_or(cpus).max(1);
        let mut macs = Vec::new();
        for p in &ns.ports {
            macs.push(match p.mac {
                Some(m) => m,
                None => default_mac(p)?,
            });
        }
        Ok(PollPlan {
            workers,
            macs,
            fanout_base: (std::process::id() as u16).wrapping_mul(16),
            arp: ArpExchange::new(workers),
            ns,
        })
    }

    /// Number of workers (one per queue).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// One line for the start-up notice and logs.
    pub fn describe(&self) -> String {
        let ports: Vec<String> = self
            .ns
            .ports
            .iter()
            .zip(&self.macs)
            .map(|(p, m)| {
                format!(
                    "{}={} {} mac {} mtu {}{}",
                    p.name,
                    p.driver.kind(),
                    p.driver.iface(),
                    fmt_mac(m),
                    p.mtu,
                    if p.gso_repair { " gso-repair" } else { "" }
                )
            })
            .collect();
        format!(
            "poll mode [{}; busy-poll {}us, idle back-off {}]",
            ports.join(", "),
            self.ns.busy_poll.as_micros(),
            match self.ns.idle_backoff {
                Some(d) => format!("{}us", d.as_micros()),
                None => "off (always spinning)".to_string(),
            }
        )
    }

    /// Opens every queue of every port, in order, on the calling thread (the
    /// kernel numbers fanout members in join order, and worker `i` must own
    /// member `i`). Result: `[worker][port]`.
    pub fn open_ports(&self) -> Result<Vec<Vec<AnyPort>>, String> {
        let mut per_worker: Vec<Vec<AnyPort>> = (0..self.workers).map(|_| Vec::new()).collect();
        for (i, p) in self.ns.ports.iter().enumerate() {
            let frame = usize::from(p.mtu) + 14;
            let opened = match &p.driver {
                NetDriver::AfPacket { iface } => AnyPort::af_packet_queues(
                    iface,
                    frame,
                    self.fanout_base.wrapping_add(i as u16),
                    self.workers as u16,
                    p.gso_repair,
                ),
                NetDriver::Tap { iface } => AnyPort::tap(iface, frame).map(|p| vec![p]),
            }
            .map_err(|e| {
                format!(
                    "[{}] : port '{}': cannot open {} interface '{}': {e}",
                    p.location,
                    p.name,
                    p.driver.kind(),
                    p.driver.iface(),
                )
            })?;
            if opened.len() != self.workers {
                return Err(format!(
                    "[{}] : port '{}' opened {} queue(s) for {} workers",
                    p.location,
                    p.name,
                    opened.len(),
                    self.workers
                ));
            }
            for (w, q) in opened.into_iter().enumerate() {
                per_worker[w].push(q);
            }
        }
        Ok(per_worker)
    }

    /// Builds worker `worker`'s driver over its queues (from [`Self::open_ports`]).
    /// Runs on the worker's own thread.
    pub fn driver(
        &self,
        worker: usize,
        queues: Vec<AnyPort>,
    ) -> Result<PollDriver<AnyPort>, String> {
        let ns = &self.ns;
        let mut ports = Vec::new();
        for (i, port) in queues.into_iter().enumerate() {
            let nic = NicConfig {
                mac: self.macs[i],
                addrs: ns
                    .addresses
                    .iter()
                    .filter(|a| a.port == i)
                    .map(|a| (a.ip, a.prefix))
                    .collect(),
                routes: ns
                    .routes
                    .iter()
                    .filter(|r| r.port == i)
                    .map(|r| RouteConfig {
                        dest: r.dest,
                        prefix: r.prefix,
                        via: r.via,
                    })
                    .collect(),
            };
            ports.push((port, nic));
        }
        let cfg = StackConfig {
            rx_buffer: ns.rx_buffer,
            tx_buffer: ns.tx_buffer,
            local_ports: ns.local_ports,
            queue: worker as u16,
            queues: self.workers as u16,
            time_wait: ns.time_wait,
            seed: u64::from(std::process::id()) << 16 ^ worker as u64 ^ clock_seed(),
            ..StackConfig::default()
        };
        let stack = Stack::new(cfg, ports, Instant::ZERO).map_err(|e| {
            format!(
                "cannot start the userspace stack of worker {}: {e}",
                worker + 1
            )
        })?;
        let idle = IdlePolicy {
            spin: ns.busy_poll,
            backoff: ns.idle_backoff.unwrap_or(Duration::ZERO),
        };
        let arp = (self.workers > 1).then(|| (self.arp.clone(), worker));
        PollDriver::new(stack, idle, arp).map_err(|e| {
            format!(
                "cannot create the poll driver of worker {}: {e}",
                worker + 1
            )
        })
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// AF_PACKET: the interface's own MAC (the kernel holds no IP on it, so it never
/// answers for sluice). TAP: a locally administered MAC derived from the port's
/// name — it must differ from the tap's kernel-side MAC, which the bridge learns.
fn default_mac(p: &NetPort) -> Result<[u8; 6], String> {
    match &p.driver {
        NetDriver::AfPacket { iface } => {
            let path = format!("/sys/class/net/{iface}/address");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "[{}] : port '{}': interface '{iface}' not found ({path}: {e})",
                    p.location, p.name
                )
            })?;
            parse_mac(text.trim()).ok_or_else(|| {
                format!(
                    "[{}] : port '{}': cannot read the MAC of '{iface}' ('{}')",
                    p.location,
                    p.name,
                    text.trim()
                )
            })
        }
        NetDriver::Tap { .. } => {
            let h = p.name.bytes().fold(0x811c_9dc5u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            let [a, b, c, _] = h.to_be_bytes();
            Ok([0x02, 0x53, 0x4c, a, b, c])
        }
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for o in out.iter_mut() {
        *o = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        appliance_config::load_str("t.cfg", text).unwrap().config
    }

    const PX: &str = "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nfrontend fe\n bind :80\n default_backend be\nbackend be\n server s 10.231.1.9:80\n";

    #[test]
    fn tap_runs_one_worker_and_refuses_more() {
        let c = cfg(&format!(
            "global\n io-mode poll\nnetstack\n port t tap tap0\n address t 10.231.1.2/24\n{PX}"
        ));
        let p = PollPlan::new(&c, None, 4).unwrap();
        assert_eq!(p.workers(), 1);
        assert_eq!(p.macs[0][..3], [0x02, 0x53, 0x4c]);
        let e = PollPlan::new(&c, Some(2), 4).err().unwrap();
        assert!(e.starts_with("[t.cfg:4] : port 't' has 1 queue(s)"), "{e}");
        assert!(e.contains("set 'nbthread 1'"), "{e}");
    }

    #[test]
    fn af_packet_queues_follow_nbthread() {
        let c = cfg(&format!(
            "global\n io-mode poll\nnetstack\n port p af-packet lo mac 02:00:00:00:00:09\n address p 10.231.1.2/24\n{PX}"
        ));
        assert_eq!(PollPlan::new(&c, Some(3), 2).unwrap().workers(), 3);
        assert_eq!(PollPlan::new(&c, None, 2).unwrap().workers(), 2);
        let c = cfg(&format!(
            "global\n io-mode poll\nnetstack\n port p af-packet lo queues 2 mac 02:00:00:00:00:09\n address p 10.231.1.2/24\n{PX}"
        ));
        assert_eq!(PollPlan::new(&c, None, 8).unwrap().workers(), 2);
        assert!(PollPlan::new(&c, Some(3), 8).is_err());
        let d = PollPlan::new(&c, None, 8).unwrap().describe();
        assert!(
            d.contains("p=af-packet lo mac 02:00:00:00:00:09 mtu 1500"),
            "{d}"
        );
        assert!(d.contains("busy-poll 50us, idle back-off 1000us"), "{d}");
    }

    #[test]
    fn missing_interface_is_named() {
        let c = cfg(&format!(
            "global\n io-mode poll\nnetstack\n port p af-packet nosuchif0\n address p 10.231.1.2/24\n{PX}"
        ));
        let e = PollPlan::new(&c, None, 1).err().unwrap();
        assert!(e.contains("interface 'nosuchif0' not found"), "{e}");
        assert_eq!(
            parse_mac("02:aa:bb:cc:dd:0e"),
            Some([2, 0xaa, 0xbb, 0xcc, 0xdd, 0x0e])
        );
        assert_eq!(parse_mac("02:aa"), None);
    }
}
