//! Command-by-command tests of the aggregate through cqrs-es's `TestFramework`
//! (given events, when command, then events or error).

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use uuid::Uuid;

use super::*;
use crate::event::Change;

const TICKET_ID: Uuid = Uuid::from_u128(0x0190_a5c4_0000_7000_8000_0000_0000_0001);

fn given(events: Vec<TicketEvent>) -> AggregateTestExecutor<Ticket> {
    TestFramework::<Ticket>::with(()).given(events)
}

fn given_nothing() -> AggregateTestExecutor<Ticket> {
    TestFramework::<Ticket>::with(()).given_no_previous_events()
}

fn create_command() -> TicketCommand {
    TicketCommand::Create {
        id: TICKET_ID,
        number: 1,
        title: "Printer on fire".into(),
        description: "Third floor".into(),
        company_id: "acme".into(),
        requester_id: "u-req".into(),
        queue_id: "q-1".into(),
        team_id: "t-1".into(),
        priority: Priority::High,
        tags: vec!["Hardware".into(), " urgent ".into(), "hardware".into()],
    }
}

fn created() -> TicketEvent {
    TicketEvent::TicketCreated {
        ticket_id: TICKET_ID,
        number: 1,
        title: "Printer on fire".into(),
        description: "Third floor".into(),
        company_id: "acme".into(),
        requester_id: "u-req".into(),
        queue_id: "q-1".into(),
        team_id: "t-1".into(),
        priority: Priority::High,
        status: Status::Open,
        tags: vec!["hardware".into(), "urgent".into()],
    }
}

fn assigned(assignee_id: &str, previous_assignee_id: Option<&str>) -> TicketEvent {
    TicketEvent::TicketAssigned {
        ticket_id: TICKET_ID,
        assignee_id: assignee_id.into(),
        previous_assignee_id: previous_assignee_id.map(Into::into),
        company_id: "acme".into(),
        requester_id: "u-req".into(),
        queue_id: "q-1".into(),
        team_id: "t-1".into(),
    }
}

fn route(assignee_id: Option<&str>) -> TicketRoute {
    TicketRoute {
        company_id: "acme".into(),
        requester_id: "u-req".into(),
        queue_id: "q-1".into(),
        team_id: "t-1".into(),
        assignee_id: assignee_id.map(Into::into),
    }
}

fn status_changed(from: Status, to: Status) -> TicketEvent {
    TicketEvent::TicketStatusChanged {
        ticket_id: TICKET_ID,
        from,
        to,
        route: route(None),
    }
}

/// A created ticket walked to `closed` through the machine.
fn closed_history() -> Vec<TicketEvent> {
    vec![
        created(),
        status_changed(Status::Open, Status::Resolved),
        status_changed(Status::Resolved, Status::Closed),
    ]
}

fn comment(body: &str) -> TicketCommand {
    TicketCommand::AddComment {
        comment_id: Uuid::from_u128(42),
        author_id: "u-agent".into(),
        body: body.into(),
        internal: false,
    }
}

fn update(title: Option<&str>, description: Option<&str>, tags: Option<&[&str]>) -> TicketCommand {
    TicketCommand::Update {
        title: title.map(Into::into),
        description: description.map(Into::into),
        tags: tags.map(|tags| tags.iter().map(|tag| tag.to_string()).collect()),
    }
}

/// One command of every kind but `Create`, each of which would change an open, unassigned
/// ticket built from [`created`].
fn every_change_command() -> Vec<TicketCommand> {
    vec![
        TicketCommand::Assign {
            assignee_id: "u-agent".into(),
        },
        TicketCommand::Unassign,
        TicketCommand::ChangeStatus {
            status: Status::InProgress,
        },
        TicketCommand::ChangePriority {
            priority: Priority::Low,
        },
        update(Some("New title"), None, None),
        comment("hello"),
        TicketCommand::Move {
            queue_id: "q-2".into(),
            team_id: "t-2".into(),
        },
    ]
}

mod create {
    use super::*;

    #[test]
    fn opens_the_ticket_with_normalized_tags() {
        given_nothing()
            .when(create_command())
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn is_refused_when_the_ticket_exists() {
        given(vec![created()])
            .when(create_command())
            .then_expect_error(DomainError::AlreadyExists);
    }

    fn create_with(change: impl FnOnce(&mut TicketCommand)) -> TicketCommand {
        let mut command = create_command();
        change(&mut command);
        command
    }

    #[test]
    fn validates_every_field() {
        let cases: Vec<(TicketCommand, &str)> = vec![
            (
                create_with(|c| {
                    if let TicketCommand::Create { title, .. } = c {
                        title.clear();
                    }
                }),
                "title must be 1-200 characters (got 0)",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { title, .. } = c {
                        *title = "  ".into();
                    }
                }),
                "title must not be blank",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { description, .. } = c {
                        *description = "d".repeat(20_001);
                    }
                }),
                "description must be at most 20000 characters (got 20001)",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { company_id, .. } = c {
                        company_id.clear();
                    }
                }),
                "company_id must be 1-64 characters (got 0)",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { requester_id, .. } = c {
                        *requester_id = "r".repeat(65);
                    }
                }),
                "requester_id must be 1-64 characters (got 65)",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { queue_id, .. } = c {
                        queue_id.clear();
                    }
                }),
                "queue_id must be 1-64 characters (got 0)",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { team_id, .. } = c {
                        team_id.clear();
                    }
                }),
                "team_id must be 1-64 characters (got 0)",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { tags, .. } = c {
                        *tags = (0..21).map(|n| format!("t{n}")).collect();
                    }
                }),
                "at most 20 tags allowed (got 21)",
            ),
            (
                create_with(|c| {
                    if let TicketCommand::Create { tags, .. } = c {
                        tags.push("x".repeat(51));
                    }
                }),
                "tag must be 1-50 characters (got 51)",
            ),
        ];
        for (command, message) in cases {
            given_nothing()
                .when(command)
                .then_expect_error_message(message);
        }
    }
}

mod missing_ticket {
    use super::*;

    #[test]
    fn every_command_but_create_is_not_found() {
        for command in every_change_command() {
            given_nothing()
                .when(command)
                .then_expect_error(DomainError::NotFound);
        }
    }
}

mod assign {
    use super::*;

    #[test]
    fn assigns_with_routing_fields() {
        given(vec![created()])
            .when(TicketCommand::Assign {
                assignee_id: "u-agent".into(),
            })
            .then_expect_events(vec![assigned("u-agent", None)]);
    }

    #[test]
    fn reassigning_records_the_previous_assignee() {
        given(vec![created(), assigned("u-1", None)])
            .when(TicketCommand::Assign {
                assignee_id: "u-2".into(),
            })
            .then_expect_events(vec![assigned("u-2", Some("u-1"))]);
    }

    #[test]
    fn assigning_the_current_assignee_appends_nothing() {
        given(vec![created(), assigned("u-1", None)])
            .when(TicketCommand::Assign {
                assignee_id: "u-1".into(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn validates_the_assignee_id() {
        given(vec![created()])
            .when(TicketCommand::Assign {
                assignee_id: String::new(),
            })
            .then_expect_error_message("assignee_id must be 1-64 characters (got 0)");
    }
}

mod unassign {
    use super::*;

    #[test]
    fn unassigns_and_names_who_was_assigned() {
        given(vec![created(), assigned("u-1", None)])
            .when(TicketCommand::Unassign)
            .then_expect_events(vec![TicketEvent::TicketUnassigned {
                ticket_id: TICKET_ID,
                previous_assignee_id: "u-1".into(),
                company_id: "acme".into(),
                requester_id: "u-req".into(),
                queue_id: "q-1".into(),
                team_id: "t-1".into(),
            }]);
    }

    #[test]
    fn unassigning_an_unassigned_ticket_appends_nothing() {
        given(vec![created()])
            .when(TicketCommand::Unassign)
            .then_expect_events(vec![]);
    }
}

mod change_status {
    use super::*;

    #[test]
    fn follows_the_machine_and_carries_the_route() {
        given(vec![created(), assigned("u-1", None)])
            .when(TicketCommand::ChangeStatus {
                status: Status::InProgress,
            })
            .then_expect_events(vec![TicketEvent::TicketStatusChanged {
                ticket_id: TICKET_ID,
                from: Status::Open,
                to: Status::InProgress,
                route: route(Some("u-1")),
            }]);
    }

    #[test]
    fn the_current_status_appends_nothing() {
        given(vec![created()])
            .when(TicketCommand::ChangeStatus {
                status: Status::Open,
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_forbidden_transition_names_both_states() {
        given(vec![
            created(),
            status_changed(Status::Open, Status::Resolved),
        ])
        .when(TicketCommand::ChangeStatus {
            status: Status::Waiting,
        })
        .then_expect_error(DomainError::InvalidTransition {
            from: Status::Resolved,
            to: Status::Waiting,
        });
        given(closed_history())
            .when(TicketCommand::ChangeStatus {
                status: Status::InProgress,
            })
            .then_expect_error_message("invalid status transition from closed to in_progress");
    }

    #[test]
    fn a_closed_ticket_can_be_reopened() {
        given(closed_history())
            .when(TicketCommand::ChangeStatus {
                status: Status::Open,
            })
            .then_expect_events(vec![status_changed(Status::Closed, Status::Open)]);
    }

    #[test]
    fn closing_a_closed_ticket_appends_nothing() {
        given(closed_history())
            .when(TicketCommand::ChangeStatus {
                status: Status::Closed,
            })
            .then_expect_events(vec![]);
    }
}

mod closed_ticket {
    use super::*;

    #[test]
    fn refuses_everything_but_a_status_change() {
        let commands = every_change_command()
            .into_iter()
            .filter(|command| !matches!(command, TicketCommand::ChangeStatus { .. }))
            // Also commands that would change nothing: a closed ticket is frozen, period.
            .chain([
                TicketCommand::Unassign,
                TicketCommand::ChangePriority {
                    priority: Priority::High,
                },
            ]);
        for command in commands {
            given(closed_history())
                .when(command)
                .then_expect_error_message("ticket is closed: reopen it first");
        }
    }

    #[test]
    fn accepts_changes_again_once_reopened() {
        given(closed_history())
            .and(vec![status_changed(Status::Closed, Status::Open)])
            .when(TicketCommand::Assign {
                assignee_id: "u-1".into(),
            })
            .then_expect_events(vec![assigned("u-1", None)]);
    }
}

mod change_priority {
    use super::*;

    #[test]
    fn records_old_and_new_priority() {
        given(vec![created()])
            .when(TicketCommand::ChangePriority {
                priority: Priority::Urgent,
            })
            .then_expect_events(vec![TicketEvent::TicketPriorityChanged {
                ticket_id: TICKET_ID,
                from: Priority::High,
                to: Priority::Urgent,
                route: route(None),
            }]);
    }

    #[test]
    fn the_current_priority_appends_nothing() {
        given(vec![created()])
            .when(TicketCommand::ChangePriority {
                priority: Priority::High,
            })
            .then_expect_events(vec![]);
    }
}

mod update {
    use super::*;

    #[test]
    fn records_only_the_fields_that_change() {
        given(vec![created()])
            .when(update(
                Some("Printer on fire"),
                Some("Second floor"),
                Some(&["Hardware", "paper"]),
            ))
            .then_expect_events(vec![TicketEvent::TicketUpdated {
                ticket_id: TICKET_ID,
                title: None,
                description: Some(Change {
                    from: "Third floor".into(),
                    to: "Second floor".into(),
                }),
                tags: Some(Change {
                    from: vec!["hardware".into(), "urgent".into()],
                    to: vec!["hardware".into(), "paper".into()],
                }),
                route: route(None),
            }]);
    }

    #[test]
    fn changes_the_title() {
        given(vec![created()])
            .when(update(Some("Printer fixed?"), None, None))
            .then_expect_events(vec![TicketEvent::TicketUpdated {
                ticket_id: TICKET_ID,
                title: Some(Change {
                    from: "Printer on fire".into(),
                    to: "Printer fixed?".into(),
                }),
                description: None,
                tags: None,
                route: route(None),
            }]);
    }

    #[test]
    fn nothing_or_identical_values_append_nothing() {
        for command in [
            update(None, None, None),
            update(
                Some("Printer on fire"),
                Some("Third floor"),
                // Identical once normalized.
                Some(&[" HARDWARE", "urgent", "Urgent"]),
            ),
        ] {
            given(vec![created()])
                .when(command)
                .then_expect_events(vec![]);
        }
    }

    #[test]
    fn reordering_tags_is_a_change() {
        let events = given(vec![created()])
            .when(update(None, None, Some(&["urgent", "hardware"])))
            .inspect_result()
            .unwrap();
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn validates_the_given_fields() {
        let cases = [
            (
                update(Some(""), None, None),
                "title must be 1-200 characters (got 0)",
            ),
            (update(Some("\t"), None, None), "title must not be blank"),
            (
                update(None, Some(&"d".repeat(20_001)), None),
                "description must be at most 20000 characters (got 20001)",
            ),
            (
                update(None, None, Some(&["ok", ""])),
                "tag must be 1-50 characters (got 0)",
            ),
        ];
        for (command, message) in cases {
            given(vec![created()])
                .when(command)
                .then_expect_error_message(message);
        }
    }
}

mod add_comment {
    use super::*;

    #[test]
    fn adds_the_comment_with_the_route() {
        given(vec![created(), assigned("u-1", None)])
            .when(TicketCommand::AddComment {
                comment_id: Uuid::from_u128(42),
                author_id: "u-req".into(),
                body: "Any news?".into(),
                internal: true,
            })
            .then_expect_events(vec![TicketEvent::CommentAdded {
                ticket_id: TICKET_ID,
                comment_id: Uuid::from_u128(42),
                author_id: "u-req".into(),
                body: "Any news?".into(),
                internal: true,
                route: route(Some("u-1")),
            }]);
    }

    #[test]
    fn is_allowed_on_a_resolved_ticket() {
        let events = given(vec![
            created(),
            status_changed(Status::Open, Status::Resolved),
        ])
        .when(comment("Thanks!"))
        .inspect_result()
        .unwrap();
        assert!(matches!(
            events.as_slice(),
            [TicketEvent::CommentAdded { .. }]
        ));
    }

    #[test]
    fn validates_body_and_author() {
        let cases = [
            (
                comment(""),
                "comment body must be 1-10000 characters (got 0)",
            ),
            (
                comment(&"b".repeat(10_001)),
                "comment body must be 1-10000 characters (got 10001)",
            ),
            (comment(" \n "), "comment body must not be blank"),
            (
                TicketCommand::AddComment {
                    comment_id: Uuid::from_u128(1),
                    author_id: "a".repeat(65),
                    body: "hi".into(),
                    internal: false,
                },
                "author_id must be 1-64 characters (got 65)",
            ),
        ];
        for (command, message) in cases {
            given(vec![created()])
                .when(command)
                .then_expect_error_message(message);
        }
    }
}

mod move_ticket {
    use super::*;

    fn move_to(queue_id: &str, team_id: &str) -> TicketCommand {
        TicketCommand::Move {
            queue_id: queue_id.into(),
            team_id: team_id.into(),
        }
    }

    #[test]
    fn records_from_and_to_and_keeps_the_assignee() {
        given(vec![created(), assigned("u-1", None)])
            .when(move_to("q-2", "t-2"))
            .then_expect_events(vec![TicketEvent::TicketMoved {
                ticket_id: TICKET_ID,
                from_queue_id: "q-1".into(),
                from_team_id: "t-1".into(),
                to_queue_id: "q-2".into(),
                to_team_id: "t-2".into(),
                company_id: "acme".into(),
                requester_id: "u-req".into(),
                assignee_id: Some("u-1".into()),
            }]);
    }

    #[test]
    fn moving_to_the_current_queue_appends_nothing() {
        given(vec![created()])
            .when(move_to("q-1", "t-1"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn same_queue_under_another_team_is_a_move() {
        let events = given(vec![created()])
            .when(move_to("q-1", "t-2"))
            .inspect_result()
            .unwrap();
        assert!(matches!(
            events.as_slice(),
            [TicketEvent::TicketMoved { to_team_id, .. }] if to_team_id == "t-2"
        ));
    }

    #[test]
    fn validates_the_ids() {
        given(vec![created()])
            .when(move_to("", "t-2"))
            .then_expect_error_message("queue_id must be 1-64 characters (got 0)");
        given(vec![created()])
            .when(move_to("q-2", &"t".repeat(65)))
            .then_expect_error_message("team_id must be 1-64 characters (got 65)");
    }
}

mod state {
    use super::*;

    /// Create, assign, move, comment, wait: decided command by command so that every event
    /// carries the route the ticket really had.
    fn history() -> Vec<TicketEvent> {
        let commands = [
            create_command(),
            TicketCommand::Assign {
                assignee_id: "u-1".into(),
            },
            TicketCommand::Move {
                queue_id: "q-2".into(),
                team_id: "t-2".into(),
            },
            comment("On it"),
            TicketCommand::ChangeStatus {
                status: Status::Waiting,
            },
        ];
        let mut ticket = Ticket::default();
        let mut events = Vec::new();
        for command in commands {
            let event = ticket.decide(command).unwrap().unwrap();
            ticket.apply(event.clone());
            events.push(event);
        }
        events
    }

    #[test]
    fn fold_rebuilds_every_field() {
        let ticket = fold(history());
        assert_eq!(ticket.id(), TICKET_ID);
        assert_eq!(ticket.title(), "Printer on fire");
        assert_eq!(ticket.description(), "Third floor");
        assert_eq!(ticket.company_id(), "acme");
        assert_eq!(ticket.requester_id(), "u-req");
        assert_eq!(ticket.queue_id(), "q-2");
        assert_eq!(ticket.team_id(), "t-2");
        assert_eq!(ticket.assignee_id(), Some("u-1"));
        assert_eq!(ticket.status(), Status::Waiting);
        assert_eq!(ticket.priority(), Priority::High);
        assert_eq!(ticket.tags(), ["hardware", "urgent"]);
        assert_eq!(ticket.comment_count(), 1);
        assert_eq!(ticket.version(), 5);
        assert!(ticket.exists());
    }

    #[test]
    fn the_state_at_a_version_is_the_fold_of_that_many_events() {
        let at_2 = fold(history().into_iter().take(2));
        assert_eq!(at_2.version(), 2);
        assert_eq!(at_2.queue_id(), "q-1");
        assert_eq!(at_2.assignee_id(), Some("u-1"));
        assert_eq!(at_2.comment_count(), 0);

        let nothing = fold([]);
        assert!(!nothing.exists());
        assert_eq!(nothing, Ticket::default());
    }

    #[test]
    fn each_event_route_is_the_ticket_route_after_it() {
        let mut ticket = Ticket::default();
        for event in history() {
            let expected = event.route();
            assert_eq!(event.ticket_id(), TICKET_ID);
            ticket.apply(event);
            assert_eq!(ticket.route(), expected);
        }
    }

    #[test]
    fn serializes_for_the_api() {
        let json = serde_json::to_value(fold(history())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": TICKET_ID,
                "number": 1,
                "title": "Printer on fire",
                "description": "Third floor",
                "company_id": "acme",
                "requester_id": "u-req",
                "queue_id": "q-2",
                "team_id": "t-2",
                "assignee_id": "u-1",
                "status": "waiting",
                "priority": "high",
                "tags": ["hardware", "urgent"],
                "comment_count": 1,
                "version": 5,
                "customer_version": 4,
            })
        );
    }

    #[tokio::test]
    async fn handle_applies_what_it_appends() {
        let mut ticket = fold([created()]);
        let sink = EventSink::default();
        ticket
            .handle(
                TicketCommand::Assign {
                    assignee_id: "u-1".into(),
                },
                &(),
                &sink,
            )
            .await
            .unwrap();
        assert_eq!(sink.collect().await, vec![assigned("u-1", None)]);
        assert_eq!(ticket.assignee_id(), Some("u-1"));
        assert_eq!(ticket.version(), 2);
    }
}
