//! The sluice test lab (being written).
