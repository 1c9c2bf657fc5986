//! Read model: metrics (being written).
