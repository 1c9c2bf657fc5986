//! The visibility policy as tables: each row a viewer, a case, and what they
//! are allowed.

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::event::{Change, TicketRoute};
use crate::{Priority, Status, fold};

const ID: Uuid = Uuid::from_u128(7);

fn route() -> TicketRoute {
    TicketRoute {
        company_id: "acme".into(),
        requester_id: "cust-1".into(),
        queue_id: "q-1".into(),
        team_id: "t-1".into(),
        assignee_id: None,
    }
}

fn created() -> TicketEvent {
    TicketEvent::TicketCreated {
        ticket_id: ID,
        number: 1,
        title: "Printer".into(),
        description: String::new(),
        company_id: "acme".into(),
        requester_id: "cust-1".into(),
        queue_id: "q-1".into(),
        team_id: "t-1".into(),
        priority: Priority::Medium,
        status: Status::Open,
        tags: vec![],
    }
}

fn comment(internal: bool) -> TicketEvent {
    TicketEvent::CommentAdded {
        ticket_id: ID,
        comment_id: Uuid::from_u128(8),
        author_id: "agent-1".into(),
        body: "hello".into(),
        internal,
        route: route(),
    }
}

fn moved() -> TicketEvent {
    TicketEvent::TicketMoved {
        ticket_id: ID,
        from_queue_id: "q-1".into(),
        from_team_id: "t-1".into(),
        to_queue_id: "q-2".into(),
        to_team_id: "t-2".into(),
        company_id: "acme".into(),
        requester_id: "cust-1".into(),
        assignee_id: None,
    }
}

fn updated(title: bool, tags: bool) -> TicketEvent {
    TicketEvent::TicketUpdated {
        ticket_id: ID,
        title: title.then(|| Change {
            from: "Printer".into(),
            to: "Printer on fire".into(),
        }),
        description: None,
        tags: tags.then(|| Change {
            from: vec![],
            to: vec!["vip".into()],
        }),
        route: route(),
    }
}

fn status_changed() -> TicketEvent {
    TicketEvent::TicketStatusChanged {
        ticket_id: ID,
        from: Status::Open,
        to: Status::InProgress,
        route: route(),
    }
}

const NO_TEAMS: &[String] = &[];

fn agent_of(teams: &[String]) -> Viewer<'_> {
    Viewer::Agent {
        user_id: "agent-1",
        team_ids: teams,
    }
}

fn customer_of(company: Option<&str>) -> Viewer<'_> {
    Viewer::Customer {
        user_id: "cust-1",
        company_id: company,
    }
}

#[test]
fn who_sees_which_ticket() {
    let team_1 = vec!["t-1".to_owned()];
    let cases = [
        (Viewer::Desk { user_id: "admin" }, true),
        (agent_of(&team_1), true),
        (agent_of(NO_TEAMS), false),
        (customer_of(Some("acme")), true),
        (customer_of(Some("globex")), false),
        (customer_of(None), false),
    ];
    for (viewer, sees) in cases {
        assert_eq!(viewer.may_see("acme", "t-1"), sees, "{viewer:?}");
        assert_eq!(
            viewer.may_see_ticket(&fold([created()])),
            sees,
            "{viewer:?}"
        );
        assert!(!viewer.may_see_ticket(&Ticket::default()), "nothing exists");
    }
}

#[test]
fn which_events_customers_are_shown() {
    let cases = [
        (created(), true),
        (status_changed(), true),
        (comment(false), true),
        (comment(true), false),
        (moved(), false),
        (updated(true, false), true),
        (updated(true, true), true),
        (updated(false, true), false),
    ];
    let team_1 = vec!["t-1".to_owned()];
    for (event, shown) in cases {
        assert_eq!(shown_to_customers(&event), shown, "{event:?}");
        assert_eq!(customer_of(Some("acme")).sees_event(&event), shown);
        assert!(
            agent_of(&team_1).sees_event(&event),
            "staff see every event"
        );
    }
}

#[test]
fn customers_lose_staff_only_fields_and_filters() {
    let full = json!({
        "title": "t", "queue_id": "q", "team_id": "t", "tags": ["vip"],
        "from_queue_id": "q0", "from_team_id": "t0", "comment_count": 3,
        "internal_comment_count": 1, "status": "open"
    });
    let mut customer = full.as_object().cloned().unwrap();
    customer_of(Some("acme")).redact(&mut customer);
    assert_eq!(json!(customer), json!({"title": "t", "status": "open"}));
    let mut staff = full.as_object().cloned().unwrap();
    Viewer::Desk { user_id: "a" }.redact(&mut staff);
    assert_eq!(json!(staff), full);

    for (field, customer_may) in [
        ("status", true),
        ("priority", true),
        ("queue_id", false),
        ("team_id", false),
        ("tags", false),
    ] {
        assert_eq!(
            customer_of(Some("acme")).may_filter_by(field),
            customer_may,
            "{field}"
        );
        assert!(agent_of(NO_TEAMS).may_filter_by(field));
    }
}

#[test]
fn a_customer_version_counts_only_what_customers_see() {
    let events = [
        created(),
        comment(true),
        moved(),
        status_changed(),
        updated(false, true),
        comment(false),
    ];
    let ticket = fold(events.clone());
    assert_eq!(ticket.version(), 6);
    assert_eq!(ticket.customer_version(), 3);
    assert_eq!(customer_of(Some("acme")).version_of(&ticket), 3);
    assert_eq!(agent_of(NO_TEAMS).version_of(&ticket), 6);
    let prefixes: Vec<u64> = (1..=6)
        .map(|n| fold(events[..n].iter().cloned()).customer_version())
        .collect();
    assert_eq!(prefixes, [1, 1, 1, 2, 2, 3]);
}

#[test]
fn who_receives_a_change_routed_to_rooms() {
    let team_1 = vec!["t-1".to_owned()];
    let team_2 = vec!["t-2".to_owned()];
    let ticket_rooms = ["ticket:7", "queue:q-1", "team:t-1", "company:acme"];
    let moved_away = ["ticket:7", "queue:q-2", "team:t-2", "company:acme"];
    let own_inbox = ["user:agent-1"];
    let cases: [(Viewer, &[&str], bool); 10] = [
        (Viewer::Desk { user_id: "a" }, &moved_away, true),
        (agent_of(&team_1), &ticket_rooms, true),
        (agent_of(&team_1), &moved_away, false),
        (agent_of(&team_2), &moved_away, true),
        (agent_of(NO_TEAMS), &own_inbox, true),
        (agent_of(NO_TEAMS), &["user:agent-2"], false),
        (
            customer_of(Some("acme")),
            &["ticket:7", "company:acme"],
            true,
        ),
        (customer_of(Some("globex")), &ticket_rooms, false),
        (customer_of(None), &["company:"], false),
        (customer_of(Some("globex")), &["user:cust-1"], true),
    ];
    for (viewer, rooms, receives) in cases {
        assert_eq!(viewer.may_receive(rooms), receives, "{viewer:?} {rooms:?}");
    }
}

#[test]
fn customers_are_listed_only_the_rooms_they_may_join() {
    for (room, listed) in [
        ("ticket:1", true),
        ("company:acme", true),
        ("user:u", true),
        ("queue:q", false),
        ("team:t", false),
    ] {
        assert_eq!(is_customer_room(room), listed, "{room}");
    }
}
