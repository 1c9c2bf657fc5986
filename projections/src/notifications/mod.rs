//! Read model: notifications (being written).
