//! How the event store writes and reads [`TicketEvent`]s: the event type, the schema version
//! (an `i32`) and the payload (a JSON object without the type tag) go in separate columns.
//! Reading runs the upcasters of `upcast` first, so old rows decode into the current shape.

use serde_json::Value;

use crate::error::DecodeError;
use crate::event::TicketEvent;
use crate::upcast::{self, FIRST_SCHEMA, TICKET_CREATED_SCHEMA};

/// The key serde's `#[serde(tag = "event_type")]` on [`TicketEvent`] uses; the store keeps the
/// type in its own column instead of inside the payload.
const TYPE_TAG: &str = "event_type";

impl TicketEvent {
    /// Every event type, with the schema version this build writes (and upcasts to).
    pub const CURRENT_SCHEMA: &'static [(&'static str, i32)] = &[
        ("TicketCreated", TICKET_CREATED_SCHEMA),
        ("TicketAssigned", FIRST_SCHEMA),
        ("TicketUnassigned", FIRST_SCHEMA),
        ("TicketStatusChanged", FIRST_SCHEMA),
        ("TicketPriorityChanged", FIRST_SCHEMA),
        ("TicketUpdated", FIRST_SCHEMA),
        ("TicketMoved", FIRST_SCHEMA),
        ("CommentAdded", FIRST_SCHEMA),
    ];

    /// The variant name, stored as the event type.
    pub fn event_type_name(&self) -> &'static str {
        match self {
            TicketEvent::TicketCreated { .. } => "TicketCreated",
            TicketEvent::TicketAssigned { .. } => "TicketAssigned",
            TicketEvent::TicketUnassigned { .. } => "TicketUnassigned",
            TicketEvent::TicketStatusChanged { .. } => "TicketStatusChanged",
            TicketEvent::TicketPriorityChanged { .. } => "TicketPriorityChanged",
            TicketEvent::TicketUpdated { .. } => "TicketUpdated",
            TicketEvent::TicketMoved { .. } => "TicketMoved",
            TicketEvent::CommentAdded { .. } => "CommentAdded",
        }
    }

    /// The schema version of this event's payload shape (as listed in [`Self::CURRENT_SCHEMA`]).
    pub fn schema_version(&self) -> i32 {
        match self {
            TicketEvent::TicketCreated { .. } => TICKET_CREATED_SCHEMA,
            _ => FIRST_SCHEMA,
        }
    }

    /// The payload to store: the event's fields as a JSON object, without the type tag.
    pub fn to_payload(&self) -> Value {
        // Cannot fail: events hold only strings, numbers, booleans, UUIDs and lists of them,
        // all representable in JSON (serde_json only fails on non-string map keys).
        let mut payload = serde_json::to_value(self).expect("a ticket event always fits in JSON");
        if let Value::Object(fields) = &mut payload {
            fields.remove(TYPE_TAG);
        }
        payload
    }

    /// Rebuilds an event from its stored columns, upcasting older schema versions first.
    /// `position` is the event's log position (an upcast may derive a field from it).
    pub fn decode(
        event_type: &str,
        schema_version: i32,
        payload: Value,
        position: i64,
    ) -> Result<TicketEvent, DecodeError> {
        let current = current_schema_of(event_type)?;
        let unsupported = || DecodeError::UnsupportedSchemaVersion {
            event_type: event_type.to_owned(),
            schema_version,
            current,
        };
        if !(FIRST_SCHEMA..=current).contains(&schema_version) {
            return Err(unsupported());
        }
        let malformed = |message: String| DecodeError::MalformedPayload {
            event_type: event_type.to_owned(),
            schema_version,
            message,
        };

        let mut payload = payload;
        for version in schema_version..current {
            payload =
                upcast::step(event_type, version, payload, position).ok_or_else(unsupported)?;
        }
        let Value::Object(mut fields) = payload else {
            return Err(malformed(format!(
                "expected a JSON object, got {}",
                json_kind(&payload)
            )));
        };
        fields.insert(TYPE_TAG.to_owned(), Value::String(event_type.to_owned()));
        serde_json::from_value(Value::Object(fields)).map_err(|error| malformed(error.to_string()))
    }
}

fn current_schema_of(event_type: &str) -> Result<i32, DecodeError> {
    TicketEvent::CURRENT_SCHEMA
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|&(_, version)| version)
        .ok_or_else(|| DecodeError::UnknownEventType {
            event_type: event_type.to_owned(),
            known: TicketEvent::CURRENT_SCHEMA
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::DomainEvent;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::event::{Change, TicketRoute};
    use crate::priority::Priority;
    use crate::status::Status;

    fn route() -> TicketRoute {
        TicketRoute {
            company_id: "acme".into(),
            requester_id: "u-req".into(),
            queue_id: "q-1".into(),
            team_id: "t-1".into(),
            assignee_id: Some("u-agent".into()),
        }
    }

    /// One event of every variant.
    fn one_of_each() -> Vec<TicketEvent> {
        let ticket_id = Uuid::from_u128(7);
        vec![
            TicketEvent::TicketCreated {
                ticket_id,
                number: 12,
                title: "Printer on fire".into(),
                description: "".into(),
                company_id: "acme".into(),
                requester_id: "u-req".into(),
                queue_id: "q-1".into(),
                team_id: "t-1".into(),
                priority: Priority::Urgent,
                status: Status::Open,
                tags: vec!["hardware".into()],
            },
            TicketEvent::TicketAssigned {
                ticket_id,
                assignee_id: "u-agent".into(),
                previous_assignee_id: None,
                company_id: "acme".into(),
                requester_id: "u-req".into(),
                queue_id: "q-1".into(),
                team_id: "t-1".into(),
            },
            TicketEvent::TicketUnassigned {
                ticket_id,
                previous_assignee_id: "u-agent".into(),
                company_id: "acme".into(),
                requester_id: "u-req".into(),
                queue_id: "q-1".into(),
                team_id: "t-1".into(),
            },
            TicketEvent::TicketStatusChanged {
                ticket_id,
                from: Status::Open,
                to: Status::InProgress,
                route: route(),
            },
            TicketEvent::TicketPriorityChanged {
                ticket_id,
                from: Priority::Low,
                to: Priority::High,
                route: TicketRoute {
                    assignee_id: None,
                    ..route()
                },
            },
            TicketEvent::TicketUpdated {
                ticket_id,
                title: None,
                description: Some(Change {
                    from: "".into(),
                    to: "smoke".into(),
                }),
                tags: Some(Change {
                    from: vec![],
                    to: vec!["fire".into()],
                }),
                route: route(),
            },
            TicketEvent::TicketMoved {
                ticket_id,
                from_queue_id: "q-1".into(),
                from_team_id: "t-1".into(),
                to_queue_id: "q-2".into(),
                to_team_id: "t-2".into(),
                company_id: "acme".into(),
                requester_id: "u-req".into(),
                assignee_id: None,
            },
            TicketEvent::CommentAdded {
                ticket_id,
                comment_id: Uuid::from_u128(8),
                author_id: "u-agent".into(),
                body: "On my way".into(),
                internal: true,
                route: route(),
            },
        ]
    }

    #[test]
    fn every_variant_round_trips_through_the_store_columns() {
        for event in one_of_each() {
            let decoded = TicketEvent::decode(
                event.event_type_name(),
                event.schema_version(),
                event.to_payload(),
                99,
            );
            assert_eq!(decoded, Ok(event));
        }
    }

    #[test]
    fn schema_table_lists_every_variant_once_with_its_version() {
        let events = one_of_each();
        assert_eq!(events.len(), TicketEvent::CURRENT_SCHEMA.len());
        for event in events {
            assert_eq!(
                current_schema_of(event.event_type_name()),
                Ok(event.schema_version())
            );
            assert_eq!(event.event_type(), event.event_type_name());
            assert_eq!(event.event_version(), event.schema_version().to_string());
        }
    }

    #[test]
    fn payload_is_a_flat_object_without_type_tag() {
        let event = one_of_each().remove(3);
        assert_eq!(
            event.to_payload(),
            json!({
                "ticket_id": Uuid::from_u128(7),
                "from": "open",
                "to": "in_progress",
                "company_id": "acme",
                "requester_id": "u-req",
                "queue_id": "q-1",
                "team_id": "t-1",
                "assignee_id": "u-agent",
            })
        );
        let tagged = serde_json::to_value(&event).unwrap();
        assert_eq!(tagged[TYPE_TAG], json!(event.event_type_name()));
    }

    #[test]
    fn literal_v1_ticket_created_decodes_into_the_current_shape() {
        let v1 = json!({
            "ticket_id": "0190a5c4-0000-7000-8000-000000000001",
            "title": "Cannot log in",
            "description": "Since this morning",
            "company_id": "acme",
            "customer_id": "u-42",
            "queue_id": "q-support",
            "team_id": "t-support",
            "priority": "high",
            "status": "open"
        });
        assert_eq!(
            TicketEvent::decode("TicketCreated", 1, v1, 17),
            Ok(TicketEvent::TicketCreated {
                ticket_id: "0190a5c4-0000-7000-8000-000000000001".parse().unwrap(),
                number: 17,
                title: "Cannot log in".into(),
                description: "Since this morning".into(),
                company_id: "acme".into(),
                requester_id: "u-42".into(),
                queue_id: "q-support".into(),
                team_id: "t-support".into(),
                priority: Priority::High,
                status: Status::Open,
                tags: vec![],
            })
        );
    }

    #[test]
    fn unknown_event_type_is_reported_with_the_known_ones() {
        let error = TicketEvent::decode("TicketDeleted", 1, json!({}), 1).unwrap_err();
        assert!(matches!(
            &error,
            DecodeError::UnknownEventType { event_type, .. } if event_type == "TicketDeleted"
        ));
        assert!(
            error.to_string().starts_with(
                "unknown event type \"TicketDeleted\" (known: TicketCreated, TicketAssigned,"
            ),
            "{error}"
        );
    }

    #[test]
    fn schema_versions_outside_the_known_range_are_unsupported() {
        for (event_type, version) in [
            ("TicketCreated", 4),
            ("TicketCreated", 0),
            ("TicketMoved", 2),
        ] {
            let error = TicketEvent::decode(event_type, version, json!({}), 1).unwrap_err();
            assert!(
                matches!(error, DecodeError::UnsupportedSchemaVersion { schema_version, .. } if schema_version == version),
                "{error}"
            );
        }
        assert_eq!(
            TicketEvent::decode("TicketCreated", 4, json!({}), 1)
                .unwrap_err()
                .to_string(),
            "unsupported schema version 4 for TicketCreated (this build reads versions 1 to 3)"
        );
    }

    #[test]
    fn broken_payloads_are_malformed_with_serdes_reason() {
        let mut missing_title = one_of_each().remove(0).to_payload();
        missing_title.as_object_mut().unwrap().remove("title");
        assert_eq!(
            TicketEvent::decode("TicketCreated", 3, missing_title, 1),
            Err(DecodeError::MalformedPayload {
                event_type: "TicketCreated".into(),
                schema_version: 3,
                message: "missing field `title`".into(),
            })
        );

        let mut bad_status = one_of_each().remove(3).to_payload();
        bad_status["to"] = json!("done");
        let error = TicketEvent::decode("TicketStatusChanged", 1, bad_status, 1).unwrap_err();
        assert!(
            matches!(&error, DecodeError::MalformedPayload { message, .. } if message.contains("unknown variant `done`")),
            "{error}"
        );

        assert_eq!(
            TicketEvent::decode("TicketMoved", 1, json!([1, 2]), 1)
                .unwrap_err()
                .to_string(),
            "malformed TicketMoved payload (schema version 1): expected a JSON object, got an array"
        );
    }
}
