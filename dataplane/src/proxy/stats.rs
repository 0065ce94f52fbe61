//! Per-worker traffic counters, summed across workers when read (CLI, logs).
//!
//! Owns: [`WorkerStats`]. Invariant: only its own worker writes it (plain integers,
//! no atomics, no lock on the request path); readers get a copy through the mailbox
//! or at exit.

/// Counters of one proxy (frontend or backend) or server on one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Sessions / connections handled.
    pub sessions: u64,
    /// HTTP requests.
    pub requests: u64,
    /// Responses by class: 1xx..5xx, other.
    pub hrsp: [u64; 6],
    /// Connection attempts that failed (`econ`).
    pub connect_errors: u64,
    /// New connections opened to servers (`connect`).
    pub connects: u64,
    /// Requests sent over a reused connection (`reuse`).
    pub reuses: u64,
    /// Invalid requests (`ereq`) / responses (`eresp`).
    pub invalid: u64,
    /// Denied requests (`dreq`).
    pub denied: u64,
}

impl Counters {
    fn count_status(&mut self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.hrsp[i] += 1;
    }

    pub fn add(&mut self, o: &Counters) {
        self.sessions += o.sessions;
        self.requests += o.requests;
        for i in 0..6 {
            self.hrsp[i] += o.hrsp[i];
        }
        self.connect_errors += o.connect_errors;
        self.connects += o.connects;
        self.reuses += o.reuses;
        self.invalid += o.invalid;
        self.denied += o.denied;
    }
}

/// Everything one worker counts.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub frontends: Vec<Counters>,
    pub backends: Vec<Counters>,
    /// `servers[backend][server]`.
    pub servers: Vec<Vec<Counters>>,
}

impl WorkerStats {
    pub fn new(frontends: usize, servers_per_backend: &[usize]) -> Self {
        WorkerStats {
            frontends: vec![Counters::default(); frontends],
            backends: vec![Counters::default(); servers_per_backend.len()],
            servers: servers_per_backend
                .iter()
                .map(|&n| vec![Counters::default(); n])
                .collect(),
        }
    }

    pub fn session(&mut self, fe: usize) {
        self.frontends[fe].sessions += 1;
    }

    pub fn request(&mut self, fe: usize) {
        self.frontends[fe].requests += 1;
    }

    pub fn local_response(&mut self, fe: usize, status: u16) {
        self.frontends[fe].count_status(status);
    }

    pub fn response(&mut self, fe: usize, be: usize, srv: usize, status: u16) {
        self.frontends[fe].count_status(status);
        self.backends[be].count_status(status);
        self.servers[be][srv].count_status(status);
    }

    pub fn server_connects(&mut self, be: usize, srv: usize) {
        self.backends[be].connects += 1;
        self.servers[be][srv].connects += 1;
    }

    pub fn server_reuse(&mut self, be: usize, srv: usize) {
        self.backends[be].reuses += 1;
        self.servers[be][srv].reuses += 1;
    }

    pub fn connect_error(&mut self, be: usize, srv: usize) {
        self.backends[be].connect_errors += 1;
        self.servers[be][srv].connect_errors += 1;
    }

    pub fn invalid_request(&mut self, fe: usize) {
        self.frontends[fe].invalid += 1;
    }

    pub fn invalid_response(&mut self, be: usize) {
        self.backends[be].invalid += 1;
    }

    pub fn denied(&mut self, fe: usize) {
        self.frontends[fe].denied += 1;
    }

    /// Add another worker's counters into these.
    pub fn merge(&mut self, o: &WorkerStats) {
        for (a, b) in self.frontends.iter_mut().zip(&o.frontends) {
            a.add(b);
        }
        for (a, b) in self.backends.iter_mut().zip(&o.backends) {
            a.add(b);
        }
        for (sa, sb) in self.servers.iter_mut().zip(&o.servers) {
            for (a, b) in sa.iter_mut().zip(sb) {
                a.add(b);
            }
        }
    }
}
