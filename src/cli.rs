//! sluice's command line, HAProxy's where it means the same.
//!
//! Owns: turning `argv` into [`Options`]. Hand-written rather than with clap because
//! HAProxy's syntax is not GNU-style: single-dash words (`-db`, `-sf`, `-cc`),
//! options glued to their flag (`-dMno-merge`), and `-sf`/`-st` taking every
//! following numeric argument. Invariant: an unknown flag is an error that names it;
//! nothing is silently ignored except the debugging flags HAProxy users pass by habit
//! (`-dM…`, `-dI`, `-dW`, listed in [`TOLERATED`]), which are accepted and reported.

use std::path::PathBuf;

/// What the user asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-f FILE|DIR`, in order.
    pub files: Vec<PathBuf>,
    /// `-c`: check the configuration and exit.
    pub check: bool,
    /// `-d` / `-db`: stay in the foreground, debug output to stderr.
    pub foreground: bool,
    pub debug: bool,
    /// `-D`: daemon mode.
    pub daemon: bool,
    /// `-p FILE`.
    pub pidfile: Option<PathBuf>,
    /// `-sf PID…`: ask these processes to finish (SIGUSR1) once we listen.
    pub soft_stop: Vec<i32>,
    /// `-x SOCKET`: take the listening sockets of the process serving this stats
    /// socket (`expose-fd listeners`) instead of binding new ones.
    pub listeners_from: Option<PathBuf>,
    /// `-st PID…`: terminate these processes (SIGTERM) once we listen.
    pub hard_stop: Vec<i32>,
    /// `-v`, `-vv`.
    pub version: u8,
    /// `-cc EXPR`.
    pub cond: Option<String>,
    /// `-q`: quiet.
    pub quiet: bool,
    /// `-h`.
    pub help: bool,
    /// Tolerated debugging flags that were given (reported at start-up).
    pub tolerated: Vec<String>,
}

/// Flags accepted for compatibility and reported, with no effect in sluice.
pub const TOLERATED: &[&str] = &["-dM", "-dI", "-dW", "-dV", "-dD", "-dr"];

pub const USAGE: &str = "\
Usage : sluice [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]
        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]
        -v displays version ; -vv shows known build options.
        -d enters debug mode ; -db only disables background mode.
        -D goes daemon ; -p writes pids of all children to this file
        -c check mode : only check config files and exit
        -cc check condition : evaluate a condition and exit
        -q quiet mode : don't display messages
        -sf/-st [pid ]* finishes/terminates old pids.
        -x <unix_socket> get listening sockets from a unix socket
        -dM, -dI, -dW are accepted for compatibility and have no effect.
With no -f, sluice runs its embedded demo configuration (see README.md).";

/// Parse `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut i = 0;
    let mut after_dashdash = false;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if after_dashdash {
            o.files.push(PathBuf::from(a));
            continue;
        }
        let mut value = |name: &str| -> Result<String, String> {
            let v = args
                .get(i)
                .cloned()
                .ok_or_else(|| format!("option '{name}' needs an argument"))?;
            i += 1;
            Ok(v)
        };
        match a {
            "--" => after_dashdash = true,
            "-f" => o.files.push(PathBuf::from(value("-f")?)),
            "-c" => o.check = true,
            "-d" => {
                o.foreground = true;
                o.debug = true;
            }
            "-db" => o.foreground = true,
            "-D" => o.daemon = true,
            "-p" => o.pidfile = Some(PathBuf::from(value("-p")?)),
            "-x" => o.listeners_from = Some(PathBuf::from(value("-x")?)),
            "-q" => o.quiet = true,
            "-v" => o.version = o.version.max(1),
            "-vv" => o.version = 2,
            "-cc" => o.cond = Some(value("-cc")?),
            "-h" | "--help" => o.help = true,
            "-sf" | "-st" => {
                let list = if a == "-sf" {
                    &mut o.soft_stop
                } else {
                    &mut o.hard_stop
                };
                while let Some(p) = args.get(i).and_then(|s| s.parse::<i32>().ok()) {
                    if p <= 0 {
                        return Err(format!("'{a}' takes process ids, got '{p}'"));
                    }
                    list.push(p);
                    i += 1;
                }
            }
            _ if TOLERATED.iter().any(|t| a.starts_with(t)) => o.tolerated.push(a.to_string()),
            _ if a.starts_with('-') => {
                return Err(format!("unknown option '{a}' (try -h)"));
            }
            // HAProxy also takes bare file names after the options.
            _ => o.files.push(PathBuf::from(a)),
        }
    }
    if o.daemon && o.foreground {
        // HAProxy: -db wins over -D (debug keeps the process in the foreground).
        o.daemon = false;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn haproxy_style_flags() {
        let o = p("-db -f a.cfg -f dir -p /run/s.pid -sf 12 13 -dM -dMno-merge").unwrap();
        assert!(o.foreground && !o.debug);
        assert_eq!(o.files, [PathBuf::from("a.cfg"), PathBuf::from("dir")]);
        assert_eq!(o.pidfile, Some(PathBuf::from("/run/s.pid")));
        assert_eq!(o.soft_stop, [12, 13]);
        assert_eq!(o.tolerated, ["-dM", "-dMno-merge"]);
    }

    #[test]
    fn check_version_cond() {
        assert!(p("-c -f x").unwrap().check);
        assert_eq!(p("-vv").unwrap().version, 2);
        assert_eq!(
            p("-cc defined(X)").unwrap().cond.as_deref(),
            Some("defined(X)")
        );
    }

    #[test]
    fn errors_name_the_flag() {
        assert!(p("-zz").unwrap_err().contains("'-zz'"));
        assert!(p("-f").unwrap_err().contains("'-f'"));
    }

    #[test]
    fn st_stops_at_next_flag() {
        let o = p("-st 5 -f c.cfg").unwrap();
        assert_eq!(o.hard_stop, [5]);
        assert_eq!(o.files, [PathBuf::from("c.cfg")]);
    }
}
