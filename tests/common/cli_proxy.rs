//! The setup the CLI test files share: a proxy with an admin and a user stats
//! socket, frontend `fe` on a free port sending to backend `be`, which the caller
//! defines (with the origins it runs).

use std::path::PathBuf;
use std::time::Duration;

use super::proxy::TempDir;
use super::{free_port, wait_until, Origin, Proxy, HTTP_DEFAULTS};

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
