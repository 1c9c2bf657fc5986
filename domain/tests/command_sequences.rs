//! Property test: random sequences of valid and invalid commands, applied through
//! `Aggregate::handle`, never break the ticket's invariants, and every event they produce
//! survives the store's encoding and plain serde JSON unchanged.

use bomizzel_domain::{
    DomainError, Priority, Status, Ticket, TicketCommand, TicketEvent, can_transition, fold,
    validate,
};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use uuid::Uuid;

/// Few distinct ids, so that "assign the current assignee"-style no-ops happen often; with
/// an occasional invalid one (empty or 65 characters).
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => select(vec!["a", "b", "c"]).prop_map(str::to_owned),
        1 => select(vec![String::new(), "x".repeat(65)]),
    ]
}

fn valid_title() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z ]{0,12}"
}

fn title() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => valid_title(),
        1 => select(vec![String::new(), " \t".into(), "t".repeat(200), "t".repeat(201)]),
    ]
}

fn description() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z ]{0,12}",
        1 => select(vec!["d".repeat(20_000), "d".repeat(20_001)]),
    ]
}

/// Mixed case and padding exercise normalization; the pool is large enough to exceed 20
/// distinct tags now and then.
fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z]{1,2}",
        1 => select(vec![" Billing ".to_owned(), "billing".into(), "t".repeat(50)]),
        1 => select(vec![String::new(), "  ".into(), "t".repeat(51)]),
    ]
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![4 => vec(tag(), 0..4), 1 => vec(tag(), 18..26)]
}

fn status() -> impl Strategy<Value = Status> {
    select(Status::ALL.to_vec())
}

fn priority() -> impl Strategy<Value = Priority> {
    select(Priority::ALL.to_vec())
}

fn ticket_id() -> impl Strategy<Value = Uuid> {
    select(vec![Uuid::from_u128(1), Uuid::from_u128(2)])
}

fn create(
    title: impl Strategy<Value = String>,
    description: impl Strategy<Value = String>,
    id: fn() -> BoxedStrategy<String>,
    tags: impl Strategy<Value = Vec<String>>,
) -> impl Strategy<Value = TicketCommand> {
    (
        ticket_id(),
        title,
        description,
        (id(), id(), id(), id()),
        priority(),
        tags,
    )
        .prop_map(
            |(
                id,
                title,
                description,
                (company_id, requester_id, queue_id, team_id),
                priority,
                tags,
            )| {
                TicketCommand::Create {
                    id,
                    number: 1,
                    title,
                    description,
                    company_id,
                    requester_id,
                    queue_id,
                    team_id,
                    priority,
                    tags,
                }
            },
        )
}

fn any_id() -> BoxedStrategy<String> {
    id().boxed()
}

fn good_id() -> BoxedStrategy<String> {
    select(vec!["a", "b"]).prop_map(str::to_owned).boxed()
}

fn command() -> impl Strategy<Value = TicketCommand> {
    prop_oneof![
        1 => create(title(), description(), any_id, tags()),
        3 => id().prop_map(|assignee_id| TicketCommand::Assign { assignee_id }),
        2 => Just(TicketCommand::Unassign),
        5 => status().prop_map(|status| TicketCommand::ChangeStatus { status }),
        2 => priority().prop_map(|priority| TicketCommand::ChangePriority { priority }),
        3 => (
            proptest::option::of(title()),
            proptest::option::of(description()),
            proptest::option::of(tags()),
        )
            .prop_map(|(title, description, tags)| TicketCommand::Update {
                title,
                description,
                tags,
            }),
        3 => (
            ticket_id(),
            id(),
            prop_oneof![4 => "[a-z]{1,12}", 1 => select(vec![String::new(), " ".into(), "b".repeat(10_001)])],
            any::<bool>(),
        )
            .prop_map(|(comment_id, author_id, body, internal)| TicketCommand::AddComment {
                comment_id,
                author_id,
                body,
                internal,
            }),
        2 => (id(), id()).prop_map(|(queue_id, team_id)| TicketCommand::Move { queue_id, team_id }),
    ]
}

/// Starts with a valid `Create` so most sequences exercise a live ticket.
fn command_sequence() -> impl Strategy<Value = Vec<TicketCommand>> {
    (
        create(
            valid_title(),
            "[a-z ]{0,12}",
            good_id,
            vec("[a-z]{1,3}", 0..4),
        ),
        vec(command(), 0..40),
    )
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
}

/// The error the existence and closed-ticket gates must produce, whatever the input.
fn gate_error(command: &TicketCommand, before: &Ticket) -> Option<DomainError> {
    let is_create = matches!(command, TicketCommand::Create { .. });
    if is_create {
        return before.exists().then_some(DomainError::AlreadyExists);
    }
    if !before.exists() {
        return Some(DomainError::NotFound);
    }
    let is_status_change = matches!(command, TicketCommand::ChangeStatus { .. });
    (before.status() == Status::Closed && !is_status_change).then_some(DomainError::TicketClosed)
}

/// Whether an accepted `command` leaves `before` as it is, per the rules' wording.
fn changes_nothing(command: &TicketCommand, before: &Ticket) -> bool {
    let same = |current: &str, proposed: &Option<String>| {
        proposed
            .as_deref()
            .is_none_or(|proposed| proposed == current)
    };
    match command {
        TicketCommand::Create { .. } | TicketCommand::AddComment { .. } => false,
        TicketCommand::Assign { assignee_id } => before.assignee_id() == Some(assignee_id),
        TicketCommand::Unassign => before.assignee_id().is_none(),
        TicketCommand::ChangeStatus { status } => *status == before.status(),
        TicketCommand::ChangePriority { priority } => *priority == before.priority(),
        TicketCommand::Update {
            title,
            description,
            tags,
        } => {
            same(before.title(), title)
                && same(before.description(), description)
                && tags
                    .as_deref()
                    .is_none_or(|tags| validate::tags(tags).as_deref() == Ok(before.tags()))
        }
        TicketCommand::Move { queue_id, team_id } => {
            queue_id == before.queue_id() && team_id == before.team_id()
        }
    }
}

/// What the accepted command must have set.
fn check_effect(command: &TicketCommand, after: &Ticket) -> Result<(), TestCaseError> {
    match command {
        TicketCommand::Assign { assignee_id } => {
            prop_assert_eq!(after.assignee_id(), Some(assignee_id.as_str()))
        }
        TicketCommand::Unassign => prop_assert_eq!(after.assignee_id(), None),
        TicketCommand::ChangeStatus { status } => prop_assert_eq!(after.status(), *status),
        TicketCommand::ChangePriority { priority } => prop_assert_eq!(after.priority(), *priority),
        TicketCommand::Move { queue_id, team_id } => {
            prop_assert_eq!(after.queue_id(), queue_id);
            prop_assert_eq!(after.team_id(), team_id);
        }
        TicketCommand::Create { id, .. } => {
            prop_assert_eq!(after.id(), *id);
            prop_assert_eq!(after.status(), Status::Open);
            prop_assert_eq!(after.assignee_id(), None);
        }
        TicketCommand::Update { .. } | TicketCommand::AddComment { .. } => {}
    }
    Ok(())
}

fn check_event(event: &TicketEvent, before: &Ticket, after: &Ticket) -> Result<(), TestCaseError> {
    let decoded = TicketEvent::decode(
        event.event_type_name(),
        event.schema_version(),
        event.to_payload(),
        1,
    );
    prop_assert_eq!(decoded.as_ref(), Ok(event));
    let json = serde_json::to_string(event).unwrap();
    prop_assert_eq!(&serde_json::from_str::<TicketEvent>(&json).unwrap(), event);

    prop_assert_eq!(event.ticket_id(), after.id());
    prop_assert_eq!(event.route(), after.route());
    if let TicketEvent::TicketStatusChanged { from, to, .. } = event {
        prop_assert_eq!(*from, before.status());
        prop_assert!(can_transition(*from, *to), "{} -> {}", from, to);
        prop_assert!(
            *from != Status::Closed || *to == Status::Open,
            "closed tickets only reopen"
        );
    }
    Ok(())
}

fn check_invariants(ticket: &Ticket, history: &[TicketEvent]) -> Result<(), TestCaseError> {
    prop_assert_eq!(ticket.version(), history.len() as u64);
    prop_assert_eq!(&fold(history.to_vec()), ticket);
    if !ticket.exists() {
        prop_assert_eq!(ticket, &Ticket::default());
        return Ok(());
    }
    let starts_with_creation = matches!(history.first(), Some(TicketEvent::TicketCreated { .. }));
    prop_assert!(starts_with_creation);
    let creations = history
        .iter()
        .filter(|event| matches!(event, TicketEvent::TicketCreated { .. }))
        .count();
    prop_assert_eq!(creations, 1);

    // Checked from the documented limits, not with `validate`, so a bug there shows up here.
    let chars = |text: &str| text.chars().count();
    prop_assert!((1..=200).contains(&chars(ticket.title())));
    prop_assert!(!ticket.title().trim().is_empty());
    prop_assert!(chars(ticket.description()) <= 20_000);
    prop_assert!(ticket.tags().len() <= 20);
    for (index, tag) in ticket.tags().iter().enumerate() {
        prop_assert!((1..=50).contains(&chars(tag)), "{:?}", tag);
        prop_assert_eq!(tag, &tag.trim().to_lowercase());
        prop_assert!(
            !ticket.tags()[..index].contains(tag),
            "duplicate tag {:?}",
            tag
        );
    }
    let ids = [
        ticket.company_id(),
        ticket.requester_id(),
        ticket.queue_id(),
        ticket.team_id(),
    ];
    for id in ids.into_iter().chain(ticket.assignee_id()) {
        prop_assert!((1..=64).contains(&chars(id)), "{:?}", id);
    }
    let comments = history
        .iter()
        .filter(|event| matches!(event, TicketEvent::CommentAdded { .. }))
        .count();
    prop_assert_eq!(ticket.comment_count() as usize, comments);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_for_any_command_sequence(commands in command_sequence()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut ticket = Ticket::default();
        let mut history = Vec::new();
        for command in commands {
            let before = ticket.clone();
            let sink = EventSink::default();
            let result = runtime.block_on(ticket.handle(command.clone(), &(), &sink));
            let events = runtime.block_on(sink.collect());

            match (result, gate_error(&command, &before)) {
                (Err(error), gate) => {
                    prop_assert!(events.is_empty());
                    prop_assert_eq!(&ticket, &before, "a refused command changed the state");
                    if let Some(expected) = gate {
                        prop_assert_eq!(error, expected);
                    } else if let DomainError::InvalidTransition { from, to } = error {
                        prop_assert_eq!(&command, &TicketCommand::ChangeStatus { status: to });
                        prop_assert_eq!(from, before.status());
                        prop_assert_ne!(from, to, "asking for the current status is a no-op, not an error");
                        prop_assert!(!can_transition(from, to));
                    } else {
                        prop_assert_eq!(error.code(), "validation_failed");
                    }
                }
                (Ok(()), Some(expected)) => {
                    prop_assert!(false, "{:?} accepted but expected {}", command, expected);
                }
                (Ok(()), None) => {
                    prop_assert!(events.len() <= 1);
                    prop_assert_eq!(events.is_empty(), changes_nothing(&command, &before), "{:?}", command);
                    check_effect(&command, &ticket)?;
                    for event in &events {
                        check_event(event, &before, &ticket)?;
                    }
                }
            }
            history.extend(events);
            check_invariants(&ticket, &history)?;
        }
    }
}
