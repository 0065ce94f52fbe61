//! Poll-mode userspace TCP/IP for sluice (issue 6 fills this crate).
