//! arrow-sink
