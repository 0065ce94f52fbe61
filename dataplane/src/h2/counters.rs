//! HTTP/2 counters of one worker: what crossed the wire, and which protection
//! answered what. Read through `debug counters` on the management CLI.
//!
//! Invariant: per worker (thread-local), bumped only on the worker's thread and
//! summed across workers when read, like every other counter.

use std::cell::RefCell;

/// One worker's HTTP/2 counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct H2Counters {
    /// Client connections that spoke HTTP/2.
    pub fe_connections: u64,
    /// Streams opened by clients.
    pub fe_streams: u64,
    /// HTTP/2 connections opened to servers.
    pub be_connections: u64,
    /// Streams opened on server connections.
    pub be_streams: u64,
    pub goaway_rcvd: u64,
    pub rst_stream_rcvd: u64,
    pub goaway_sent: u64,
    pub rst_stream_sent: u64,
    /// GOAWAY sent with an error code.
    pub conn_protocol_errors: u64,
    /// RST_STREAM sent with PROTOCOL_ERROR.
    pub strm_protocol_errors: u64,
    pub rapid_reset: u64,
    pub ping_flood: u64,
    pub settings_flood: u64,
    pub empty_frame_flood: u64,
    pub continuation_flood: u64,
    /// Requests refused with 431 (or a connection cut) for their header list size.
    pub header_list_too_large: u64,
}

impl H2Counters {
    /// Name, value and meaning of each counter, for the CLI.
    pub fn rows(&self) -> [(&'static str, u64, &'static str); 16] {
        [
            (
                "h2_fe_connections",
                self.fe_connections,
                "client connections speaking HTTP/2",
            ),
            (
                "h2_fe_streams",
                self.fe_streams,
                "streams opened by clients",
            ),
            (
                "h2_be_connections",
                self.be_connections,
                "HTTP/2 connections opened to servers",
            ),
            (
                "h2_be_streams",
                self.be_streams,
                "streams opened to servers",
            ),
            (
                "h2_goaway_rcvd",
                self.goaway_rcvd,
                "GOAWAY frames received from clients",
            ),
            (
                "h2_rst_stream_rcvd",
                self.rst_stream_rcvd,
                "RST_STREAM frames received from clients",
            ),
            (
                "h2_goaway_sent",
                self.goaway_sent,
                "GOAWAY frames sent to clients",
            ),
            (
                "h2_rst_stream_sent",
                self.rst_stream_sent,
                "RST_STREAM frames sent to clients",
            ),
            (
                "h2_conn_protocol_errors",
                self.conn_protocol_errors,
                "GOAWAY sent with an error code",
            ),
            (
                "h2_strm_protocol_errors",
                self.strm_protocol_errors,
                "RST_STREAM sent with PROTOCOL_ERROR",
            ),
            (
                "h2_rapid_reset",
                self.rapid_reset,
                "connections cut for rapid reset (ENHANCE_YOUR_CALM)",
            ),
            (
                "h2_ping_flood",
                self.ping_flood,
                "connections cut for a PING flood (ENHANCE_YOUR_CALM)",
            ),
            (
                "h2_settings_flood",
                self.settings_flood,
                "connections cut for a SETTINGS flood (ENHANCE_YOUR_CALM)",
            ),
            (
                "h2_empty_frame_flood",
                self.empty_frame_flood,
                "connections cut for a flood of empty frames (ENHANCE_YOUR_CALM)",
            ),
            (
                "h2_continuation_flood",
                self.continuation_flood,
                "connections cut for a CONTINUATION flood (ENHANCE_YOUR_CALM)",
            ),
            (
                "h2_header_list_too_large",
                self.header_list_too_large,
                "requests refused for their header list size (431)",
            ),
        ]
    }

    /// Add another worker's counters.
    pub fn add(&mut self, o: &H2Counters) {
        let mut a = self.rows().map(|r| r.1);
        let b = o.rows().map(|r| r.1);
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        *self = H2Counters {
            fe_connections: a[0],
            fe_streams: a[1],
            be_connections: a[2],
            be_streams: a[3],
            goaway_rcvd: a[4],
            rst_stream_rcvd: a[5],
            goaway_sent: a[6],
            rst_stream_sent: a[7],
            conn_protocol_errors: a[8],
            strm_protocol_errors: a[9],
            rapid_reset: a[10],
            ping_flood: a[11],
            settings_flood: a[12],
            empty_frame_flood: a[13],
            continuation_flood: a[14],
            header_list_too_large: a[15],
        };
    }
}

thread_local! {
    static COUNTERS: RefCell<H2Counters> = RefCell::new(H2Counters::default());
}

/// Update this worker's counters.
pub fn bump(f: impl FnOnce(&mut H2Counters)) {
    COUNTERS.with(|c| f(&mut c.borrow_mut()));
}

/// This worker's counters.
pub fn snapshot() -> H2Counters {
    COUNTERS.with(|c| *c.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sums_every_field() {
        let mut a = H2Counters {
            ping_flood: 1,
            header_list_too_large: 2,
            ..Default::default()
        };
        let b = H2Counters {
            ping_flood: 3,
            fe_connections: 4,
            ..Default::default()
        };
        a.add(&b);
        assert_eq!(
            (a.ping_flood, a.fe_connections, a.header_list_too_large),
            (4, 4, 2)
        );
    }
}
