//! The configuration model's TLS types, as agreed with appliance-config (one place
//! to name them, so the TLS code reads the same whatever module they live in).

pub use appliance_config::{BindTls, Location, ServerTls, TlsVersion, Verify};
