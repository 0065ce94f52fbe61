//! The `global` section: process settings, tuning, loggers, `cpu-map`, the stats
//! sockets and the TLS defaults.
//!
//! Owns: [`Global`], [`Tune`], [`CpuMap`], [`IdlePoolShared`], [`CliLevel`],
//! [`StatsSocket`]. Invariant: defaults are HAProxy's (see each field).

use std::path::PathBuf;
use std::time::Duration;

use super::netstack::{IoMode, Netstack};
use super::tls::{TlsVersion, Verify};
use super::{Address, Logger};
use crate::error::Location;

/// `cpu-map`, unresolved: see [`Global::thread_cpus`] for the per-thread result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuMap {
    /// `auto:` prefix: threads and CPUs are paired one to one.
    pub auto: bool,
    /// Thread group numbers (the part before `/`; sluice runs one group, so `1`,
    /// or `all`).
    pub groups: Vec<u32>,
    /// Thread numbers after `/` (1-based); `None` means every thread of the group.
    pub threads: Option<Vec<u32>>,
    /// CPU numbers.
    pub cpus: Vec<u32>,
    /// Where it was declared.
    pub location: Location,
}

/// `tune.*` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tune {
    /// `tune.bufsize` (default 16384).
    pub bufsize: usize,
    /// `tune.http.maxhdr` (default 101).
    pub http_maxhdr: usize,
    /// `tune.maxrewrite` (default 1024).
    pub maxrewrite: usize,
    /// `tune.idle-pool.shared` (default on).
    pub idle_pool_shared: IdlePoolShared,
    /// `tune.h2.*`.
    pub h2: H2Tune,
}

/// HTTP/2 settings (`tune.h2.*`), with HAProxy's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct H2Tune {
    /// `tune.h2.header-table-size` (SETTINGS_HEADER_TABLE_SIZE, default 4096).
    pub header_table_size: u32,
    /// `tune.h2.max-frame-size` (SETTINGS_MAX_FRAME_SIZE, default 16384).
    pub max_frame_size: u32,
    /// Client side (`tune.h2.fe.*`, else `tune.h2.*`).
    pub fe: H2Side,
    /// Server side (`tune.h2.be.*`, else `tune.h2.*`).
    pub be: H2Side,
}

/// The per-side HTTP/2 settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct H2Side {
    /// SETTINGS_INITIAL_WINDOW_SIZE (default 65535).
    pub initial_window_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (default 100).
    pub max_concurrent_streams: u32,
}

impl Default for H2Tune {
    fn default() -> Self {
        let side = H2Side {
            initial_window_size: 65535,
            max_concurrent_streams: 100,
        };
        H2Tune {
            header_table_size: 4096,
            max_frame_size: 16384,
            fe: side,
            be: side,
        }
    }
}

/// `tune.idle-pool.shared off|on|full`: may a worker take an idle server connection
/// from another worker's pool? (sluice has one thread group: `on` and `full` mean
/// the same; clear connections in epoll mode travel, TLS ones stay.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdlePoolShared {
    /// Each worker uses only its own pool.
    Off,
    /// Within the thread group (HAProxy's default).
    #[default]
    On,
    /// Across thread groups too.
    Full,
}

impl Default for Tune {
    fn default() -> Self {
        Tune {
            bufsize: 16384,
            http_maxhdr: 101,
            maxrewrite: 1024,
            idle_pool_shared: IdlePoolShared::On,
            h2: H2Tune::default(),
        }
    }
}

/// The `global` section.
#[derive(Clone, Debug)]
pub struct Global {
    /// Where the (first) `global` section starts.
    pub location: Option<Location>,
    /// `daemon`.
    pub daemon: bool,
    /// `maxconn`; `None`: derived from the file-descriptor limit at start-up.
    pub maxconn: Option<u32>,
    /// `nbthread`; `None`: one per available CPU.
    pub nbthread: Option<u32>,
    /// `cpu-map` lines.
    pub cpu_maps: Vec<CpuMap>,
    /// `log` targets.
    pub loggers: Vec<Logger>,
    /// `log-tag` (default: the program name).
    pub log_tag: Option<String>,
    /// `pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `user` (a name, resolved by the binary).
    pub user: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `uid`.
    pub uid: Option<u32>,
    /// `gid`.
    pub gid: Option<u32>,
    /// `chroot`.
    pub chroot: Option<PathBuf>,
    /// `hard-stop-after`.
    pub hard_stop_after: Option<Duration>,
    /// `ulimit-n`.
    pub ulimit_n: Option<u32>,
    /// `tune.*`.
    pub tune: Tune,
    /// `description`.
    pub description: Option<String>,
    /// `node`.
    pub node: Option<String>,
    /// `zero-warning`: warnings are fatal.
    pub zero_warning: bool,
    /// `expose-experimental-directives`.
    pub experimental: bool,
    /// `crt-base`: directory for relative certificate paths.
    pub crt_base: Option<PathBuf>,
    /// `ca-base`: directory for relative CA file paths.
    pub ca_base: Option<PathBuf>,
    /// `ssl-default-bind-ciphers` (TLS 1.2 OpenSSL cipher list, as written).
    pub ssl_default_bind_ciphers: Option<String>,
    /// `ssl-default-bind-ciphersuites` (TLS 1.3 suites, as written).
    pub ssl_default_bind_ciphersuites: Option<String>,
    /// `ssl-default-bind-options ssl-min-ver …` / `no-tlsv12` / `force-tlsv13`.
    pub ssl_default_bind_min_ver: Option<TlsVersion>,
    /// `ssl-default-bind-options ssl-max-ver …` / `no-tlsv13` / `force-tlsv12`.
    pub ssl_default_bind_max_ver: Option<TlsVersion>,
    /// `ssl-default-bind-options prefer-client-ciphers`.
    pub ssl_default_bind_prefer_client_ciphers: bool,
    /// `ssl-default-bind-options no-tls-tickets`.
    pub ssl_default_bind_no_tls_tickets: bool,
    /// `ssl-default-server-ciphers`.
    pub ssl_default_server_ciphers: Option<String>,
    /// `ssl-default-server-ciphersuites`.
    pub ssl_default_server_ciphersuites: Option<String>,
    /// `ssl-default-server-options ssl-min-ver …`.
    pub ssl_default_server_min_ver: Option<TlsVersion>,
    /// `ssl-default-server-options ssl-max-ver …`.
    pub ssl_default_server_max_ver: Option<TlsVersion>,
    /// `ssl-default-server-options no-tls-tickets`.
    pub ssl_default_server_no_tls_tickets: bool,
    /// `ssl-server-verify none|required` (default `required`, as HAProxy).
    pub ssl_server_verify: Verify,
    /// `stats socket` lines (the management CLI).
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout` (idle time of a CLI connection; HAProxy's default is 10 s).
    pub stats_timeout: Option<Duration>,
    /// `io-mode` (default epoll).
    pub io_mode: IoMode,
    /// Where `io-mode` was set.
    pub io_mode_location: Option<Location>,
    /// The `netstack` section, if any.
    pub netstack: Option<Netstack>,
}

/// Privilege level of a CLI socket (`level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum CliLevel {
    /// Read-only commands.
    User,
    /// Read-only commands plus some non-sensitive changes.
    Operator,
    /// Every command (HAProxy's default for `stats socket`).
    #[default]
    Admin,
}

/// One `stats socket <addr> [mode <octal>] [level <l>] [expose-fd listeners]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsSocket {
    /// Where it listens (a UNIX path, `ip:port`, `abns@` or `fd@N`).
    pub addr: Address,
    /// `mode`: permissions of a UNIX socket file.
    pub mode: Option<u32>,
    /// `level`.
    pub level: CliLevel,
    /// `expose-fd listeners`: `_getsocks` hands the listening sockets to a
    /// successor started with `sluice -x <socket>`.
    pub expose_fd: bool,
    /// Where the line is.
    pub location: Location,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            location: None,
            daemon: false,
            maxconn: None,
            nbthread: None,
            cpu_maps: vec![],
            loggers: vec![],
            log_tag: None,
            pidfile: None,
            user: None,
            group: None,
            uid: None,
            gid: None,
            chroot: None,
            hard_stop_after: None,
            ulimit_n: None,
            tune: Tune::default(),
            description: None,
            node: None,
            zero_warning: false,
            experimental: false,
            crt_base: None,
            ca_base: None,
            ssl_default_bind_ciphers: None,
            ssl_default_bind_ciphersuites: None,
            ssl_default_bind_min_ver: None,
            ssl_default_bind_max_ver: None,
            ssl_default_bind_prefer_client_ciphers: false,
            ssl_default_bind_no_tls_tickets: false,
            ssl_default_server_ciphers: None,
            ssl_default_server_ciphersuites: None,
            ssl_default_server_min_ver: None,
            ssl_default_server_max_ver: None,
            ssl_default_server_no_tls_tickets: false,
            ssl_server_verify: Verify::Required,
            stats_sockets: vec![],
            stats_timeout: None,
            io_mode: IoMode::Epoll,
            io_mode_location: None,
            netstack: None,
        }
    }
}

impl Global {
    /// Per-thread CPU sets for `nbthread` threads (index 0 is thread 1); `None` for a
    /// thread without `cpu-map`. Later lines override earlier ones (HAProxy).
    pub fn thread_cpus(&self, nbthread: u32) -> Vec<Option<Vec<u32>>> {
        let mut out = vec![None; nbthread as usize];
        for m in &self.cpu_maps {
            let threads: Vec<u32> = match &m.threads {
                Some(t) => t.clone(),
                None => (1..=nbthread).collect(),
            };
            for (i, t) in threads.iter().enumerate() {
                let Some(slot) = out.get_mut((*t as usize).wrapping_sub(1)) else {
                    continue;
                };
                if m.auto {
                    if let Some(c) = m.cpus.get(i) {
                        *slot = Some(vec![*c]);
                    }
                } else {
                    *slot = Some(m.cpus.clone());
                }
            }
        }
        out
    }
}
