//! Read model: feed (being written).
