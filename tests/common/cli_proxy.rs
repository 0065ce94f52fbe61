//! The setup the CLI test files share: a proxy with an admin and a user stats
//! socket, frontend `fe` on a free port sending to backend `be`, which the caller
//! defines (with the origins it runs); and `show stat` read as a table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proxy::TempDir;
use super::{cli, free_port, wait_until, Origin, Proxy, HTTP_DEFAULTS};

pub struct CliProxy {
    pub proxy: Proxy,
    pub fe: u16,
    /// `level admin`, mode 600.
    pub admin: PathBuf,
    /// `level user`.
    pub user: PathBuf,
    /// Kept alive for the proxy's life.
    pub origins: Vec<Origin>,
    pub dir: TempDir,
}

impl CliProxy {
    /// Starts the proxy (`tag` names its directory) with `global_extra` lines in
    /// `global`, and waits until the admin socket exists.
    pub fn start(tag: &str, origins: Vec<Origin>, global_extra: &str, backends: &str) -> CliProxy {
        let fe = free_port();
        let dir = TempDir::new(tag);
        let admin = dir.path().join("admin.sock");
        let user = dir.path().join("user.sock");
        let defaults = HTTP_DEFAULTS.replacen(
            "global\n",
            &format!(
                "global\n{global_extra}    stats socket {} mode 600 level admin\n    stats socket {} level user\n    stats timeout 30s\n",
                admin.display(),
                user.display()
            ),
            1,
        );
        let cfg = format!(
            "{defaults}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

{backends}"
        );
        let proxy = Proxy::start(&cfg);
        assert!(wait_until(Duration::from_secs(5), || admin.exists()));
        CliProxy {
            proxy,
            fe,
            admin,
            user,
            origins,
            dir,
        }
    }
}

/// A proxy with an admin and a user socket, one frontend, backend `be` with `a`, `b`.
pub fn setup() -> CliProxy {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let backends = format!(
        "backend be\n    balance roundrobin\n    server a {}\n    server b {}\n",
        a.addr(),
        b.addr()
    );
    start(vec![a, b], "", &backends)
}

/// A proxy with an admin and a user socket, `global_extra` lines, and frontend `fe`
/// sending to backend `be`, which `backends` must define.
pub fn start(origins: Vec<Origin>, global_extra: &str, backends: &str) -> CliProxy {
    CliProxy::start("cli", origins, global_extra, backends)
}

/// `show stat` as rows keyed by `pxname/svname`, each a map column → value.
pub fn stat(sock: &Path) -> HashMap<String, HashMap<String, String>> {
    let out = cli(sock, "show stat\n");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap()[2..].split(',').collect();
    let mut rows = HashMap::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), header.len(), "row {l}");
        let m: HashMap<String, String> = header
            .iter()
            .zip(&f)
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        rows.insert(format!("{}/{}", f[0], f[1]), m);
    }
    rows
}
