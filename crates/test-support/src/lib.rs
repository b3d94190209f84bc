//! Shared test helpers (being written).
