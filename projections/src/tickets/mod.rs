//! Read model: tickets (being written).
