//! Upcasters: rewrite payloads stored under an older schema version into the current shape
//! before they are deserialized, one version step at a time.
//!
//! Current schema versions:
//! - `TicketCreated`: version 3. Version 1 named the requester `customer_id` and had no `tags`
//!   (step 1 -> 2 renames the field and adds `"tags": []`); version 2 had no `number`.
//! - every other event: version 1 (never changed).
//!
//! Ticket numbers of tickets opened before numbers existed (step 2 -> 3): the number is the
//! log position of the ticket's `TicketCreated` event. Positions are unique and increase in
//! the order tickets were opened, the rule needs nothing but the event itself (every reader
//! knows an event's position), so a rebuild gives the same numbers; and migration 0011 starts
//! the counter new tickets draw from above the highest position in the log at the time, so
//! new numbers never meet old ones.
//!
//! To change an event's shape: bump its version in `TicketEvent::CURRENT_SCHEMA` (and
//! `schema_version`), and add a step from the old version here.

use serde_json::Value;

/// The version every event type starts at.
pub(crate) const FIRST_SCHEMA: i32 = 1;
/// `TicketCreated` gained `tags` and renamed `customer_id` to `requester_id` (2), then gained
/// `number` (3).
pub(crate) const TICKET_CREATED_SCHEMA: i32 = 3;

/// Rewrites `payload` of `event_type`, stored at log `position`, from schema `version` to
/// `version + 1`, or `None` when no such step exists.
///
/// Non-object payloads pass through unchanged, so deserialization reports them with serde's
/// message rather than an upcaster inventing one.
pub(crate) fn step(event_type: &str, version: i32, payload: Value, position: i64) -> Option<Value> {
    match (event_type, version) {
        ("TicketCreated", 1) => Some(ticket_created_v1_to_v2(payload)),
        ("TicketCreated", 2) => Some(ticket_created_v2_to_v3(payload, position)),
        _ => None,
    }
}

fn ticket_created_v2_to_v3(mut payload: Value, position: i64) -> Value {
    if let Value::Object(fields) = &mut payload {
        fields
            .entry("number")
            .or_insert_with(|| Value::from(position));
    }
    payload
}

fn ticket_created_v1_to_v2(mut payload: Value) -> Value {
    if let Value::Object(fields) = &mut payload {
        if let Some(customer_id) = fields.remove("customer_id") {
            fields.insert("requester_id".to_owned(), customer_id);
        }
        fields
            .entry("tags")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
    payload
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ticket_created_v1_gets_requester_id_and_empty_tags() {
        let v1 = json!({"ticket_id": "x", "customer_id": "c-1", "title": "t"});
        assert_eq!(
            step("TicketCreated", 1, v1, 9),
            Some(json!({"ticket_id": "x", "requester_id": "c-1", "title": "t", "tags": []}))
        );
    }

    #[test]
    fn ticket_created_v2_is_numbered_by_its_position() {
        let v2 = json!({"ticket_id": "x", "title": "t"});
        assert_eq!(
            step("TicketCreated", 2, v2, 41),
            Some(json!({"ticket_id": "x", "title": "t", "number": 41}))
        );
    }

    #[test]
    fn there_is_no_step_past_the_current_versions() {
        assert_eq!(
            step("TicketCreated", TICKET_CREATED_SCHEMA, json!({}), 1),
            None
        );
        assert_eq!(step("TicketAssigned", FIRST_SCHEMA, json!({}), 1), None);
    }
}
