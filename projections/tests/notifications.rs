//! The notifications read model: the recipient rules (pure), then the inbox
//! on both backends: what each user gets, paging, unread counts, read marks
//! that survive rebuilds, and batches that add up to a rebuild.

mod notify_support;

use std::sync::Arc;

use bomizzel_domain::{Change, Priority, Status, TicketCommand, TicketEvent, TicketRoute};
use bomizzel_projections::notifications::{
    Kind, Level, Notification, NotificationsProjection, Recipient, mark_all_read, mark_read, page,
    recipients, unread_count,
};
use bomizzel_projections::on_both_backends;
use bomizzel_projections::testing::{TestLog, project};
use bomizzel_projections::{ProjectedEvent, Projection};
use bomizzel_store::Metadata;
use notify_support::*;
use time::Duration;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The rules, without a database.

const TICKET: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

fn projected(actor: &str, event: TicketEvent) -> ProjectedEvent {
    let mut metadata = Metadata::new(actor, "agent");
    metadata.occurred_at = T0;
    ProjectedEvent {
        position: 42,
        stream_id: TICKET.to_string(),
        version: 3,
        event,
        metadata,
        recorded_at: T0,
    }
}

/// A ticket asked by `cust`, held by `holder` when `held`.
fn route(held: bool) -> TicketRoute {
    TicketRoute {
        company_id: "c1".into(),
        requester_id: "cust".into(),
        queue_id: "q1".into(),
        team_id: "t1".into(),
        assignee_id: held.then(|| "holder".into()),
    }
}

fn to(user: &str, level: Level, kind: Kind) -> Recipient {
    Recipient {
        user_id: user.into(),
        level,
        kind,
    }
}

fn created() -> TicketEvent {
    TicketEvent::TicketCreated {
        ticket_id: TICKET,
        number: 1,
        title: "t".into(),
        description: "d".into(),
        company_id: "c1".into(),
        requester_id: "cust".into(),
        queue_id: "q1".into(),
        team_id: "t1".into(),
        priority: Priority::Medium,
        status: Status::Open,
        tags: vec![],
    }
}

fn assigned(assignee: &str, previous: Option<&str>) -> TicketEvent {
    TicketEvent::TicketAssigned {
        ticket_id: TICKET,
        assignee_id: assignee.into(),
        previous_assignee_id: previous.map(Into::into),
        company_id: "c1".into(),
        requester_id: "cust".into(),
        queue_id: "q1".into(),
        team_id: "t1".into(),
    }
}

fn status_changed(route: TicketRoute) -> TicketEvent {
    TicketEvent::TicketStatusChanged {
        ticket_id: TICKET,
        from: Status::Open,
        to: Status::Resolved,
        route,
    }
}

fn priority_changed(to: Priority) -> TicketEvent {
    TicketEvent::TicketPriorityChanged {
        ticket_id: TICKET,
        from: Priority::Medium,
        to,
        route: route(true),
    }
}

fn comment(internal: bool, route: TicketRoute) -> TicketEvent {
    TicketEvent::CommentAdded {
        ticket_id: TICKET,
        comment_id: Uuid::nil(),
        author_id: "lead".into(),
        body: "b".into(),
        internal,
        route,
    }
}

fn members(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[test]
fn new_tickets_notify_the_team_but_not_the_actor() {
    let team = members(&["agent-1", "agent-2", "cust"]);
    assert_eq!(
        recipients(&projected("cust", created()), &team),
        [
            to("agent-1", Level::Medium, Kind::TicketCreated),
            to("agent-2", Level::Medium, Kind::TicketCreated),
        ]
    );
    assert_eq!(
        recipients(&projected("agent-1", created()), &members(&["agent-1"])),
        []
    );
    assert_eq!(recipients(&projected("cust", created()), &[]), []);
}

#[test]
fn assignment_is_high_for_the_new_assignee_and_low_for_the_previous_one() {
    assert_eq!(
        recipients(&projected("lead", assigned("new", None)), &[]),
        [to("new", Level::High, Kind::TicketAssigned)]
    );
    assert_eq!(
        recipients(&projected("lead", assigned("new", Some("holder"))), &[]),
        [
            to("new", Level::High, Kind::TicketAssigned),
            to("holder", Level::Low, Kind::TicketUnassigned),
        ]
    );
    // Taking a ticket yourself tells only the one who had it.
    assert_eq!(
        recipients(&projected("new", assigned("new", Some("holder"))), &[]),
        [to("holder", Level::Low, Kind::TicketUnassigned)]
    );
}

#[test]
fn unassignment_is_low_for_requester_and_previous_holder() {
    let event = TicketEvent::TicketUnassigned {
        ticket_id: TICKET,
        previous_assignee_id: "holder".into(),
        company_id: "c1".into(),
        requester_id: "cust".into(),
        queue_id: "q1".into(),
        team_id: "t1".into(),
    };
    assert_eq!(
        recipients(&projected("lead", event.clone()), &[]),
        [
            to("cust", Level::Low, Kind::TicketUnassigned),
            to("holder", Level::Low, Kind::TicketUnassigned),
        ]
    );
    assert_eq!(
        recipients(&projected("holder", event), &[]),
        [to("cust", Level::Low, Kind::TicketUnassigned)]
    );
}

#[test]
fn status_changes_are_medium_for_requester_and_holder() {
    assert_eq!(
        recipients(&projected("lead", status_changed(route(true))), &[]),
        [
            to("cust", Level::Medium, Kind::StatusChanged),
            to("holder", Level::Medium, Kind::StatusChanged),
        ]
    );
    assert_eq!(
        recipients(&projected("cust", status_changed(route(true))), &[]),
        [to("holder", Level::Medium, Kind::StatusChanged)]
    );
    assert_eq!(
        recipients(&projected("lead", status_changed(route(false))), &[]),
        [to("cust", Level::Medium, Kind::StatusChanged)]
    );
    // Team members only hear of new tickets.
    assert_eq!(
        recipients(
            &projected("lead", status_changed(route(false))),
            &members(&["agent-9"])
        ),
        [to("cust", Level::Medium, Kind::StatusChanged)]
    );
}

#[test]
fn urgent_is_high_and_other_priorities_medium() {
    assert_eq!(
        recipients(&projected("lead", priority_changed(Priority::Urgent)), &[]),
        [
            to("cust", Level::High, Kind::TicketUrgent),
            to("holder", Level::High, Kind::TicketUrgent),
        ]
    );
    for priority in [Priority::Low, Priority::High] {
        assert_eq!(
            recipients(&projected("holder", priority_changed(priority)), &[]),
            [to("cust", Level::Medium, Kind::PriorityChanged)]
        );
    }
}

#[test]
fn edits_are_low_for_requester_and_holder_moves_for_the_holder_only() {
    let updated = TicketEvent::TicketUpdated {
        ticket_id: TICKET,
        title: Some(Change {
            from: "a".into(),
            to: "b".into(),
        }),
        description: None,
        tags: None,
        route: route(true),
    };
    let moved = TicketEvent::TicketMoved {
        ticket_id: TICKET,
        from_queue_id: "q1".into(),
        from_team_id: "t1".into(),
        to_queue_id: "q2".into(),
        to_team_id: "t2".into(),
        company_id: "c1".into(),
        requester_id: "cust".into(),
        assignee_id: Some("holder".into()),
    };
    let kind = Kind::TicketUpdated;
    assert_eq!(
        recipients(&projected("lead", updated.clone()), &[]),
        [to("cust", Level::Low, kind), to("holder", Level::Low, kind)]
    );
    assert_eq!(
        recipients(&projected("cust", updated), &[]),
        [to("holder", Level::Low, kind)]
    );
    // Customers are not shown moves (routing), so the requester hears nothing.
    assert_eq!(
        recipients(&projected("lead", moved), &[]),
        [to("holder", Level::Low, Kind::TicketMoved)]
    );
}

#[test]
fn internal_comments_never_reach_the_requester() {
    assert_eq!(
        recipients(&projected("lead", comment(false, route(true))), &[]),
        [
            to("cust", Level::Low, Kind::TicketCommented),
            to("holder", Level::Low, Kind::TicketCommented),
        ]
    );
    assert_eq!(
        recipients(&projected("lead", comment(true, route(true))), &[]),
        [to("holder", Level::Low, Kind::TicketCommented)]
    );
    assert_eq!(
        recipients(&projected("lead", comment(true, route(false))), &[]),
        []
    );
    assert_eq!(
        recipients(&projected("holder", comment(true, route(true))), &[]),
        []
    );
}

#[test]
fn a_requester_who_holds_the_ticket_is_told_once() {
    let mut own = route(true);
    own.requester_id = "holder".into();
    assert_eq!(
        recipients(&projected("lead", status_changed(own.clone())), &[]),
        [to("holder", Level::Medium, Kind::StatusChanged)]
    );
    // Holding the ticket, they are staff: internal comments reach them.
    assert_eq!(
        recipients(&projected("lead", comment(true, own)), &[]),
        [to("holder", Level::Low, Kind::TicketCommented)]
    );
}

// ---------------------------------------------------------------------------
// The inbox, on both backends.

on_both_backends!(
    each_user_gets_what_the_rules_say,
    pages_newest_first_and_filters_unread,
    read_marks_count_and_survive_a_rebuild,
    small_batches_equal_a_rebuild,
);

fn notifications() -> Arc<dyn Projection> {
    Arc::new(NotificationsProjection)
}

/// `(level, kind)` of `user`'s inbox, newest first.
async fn inbox(log: &TestLog, user: &str) -> Vec<(Level, Kind)> {
    page(log.database(), user, false, None, 100)
        .await
        .expect("inbox lists")
        .items
        .into_iter()
        .map(|n| (n.level, n.kind))
        .collect()
}

async fn each_user_gets_what_the_rules_say(log: TestLog) {
    add_team(log.database(), "t1", &["agent-1", "agent-2"]).await;
    let lead = agent("agent-1");
    let ticket = open_ticket(&log, "cust-1", &customer("cust-1")).await;
    let assign = TicketCommand::Assign {
        assignee_id: "agent-2".into(),
    };
    run(&log, ticket, assign, &lead.at(T0 + Duration::minutes(1))).await;
    let note = |internal| TicketCommand::AddComment {
        comment_id: Uuid::now_v7(),
        author_id: "agent-1".into(),
        body: "look".into(),
        internal,
    };
    run(&log, ticket, note(true), &lead).await;
    run(&log, ticket, note(false), &lead).await;
    let urgent = TicketCommand::ChangePriority {
        priority: Priority::Urgent,
    };
    run(&log, ticket, urgent, &agent("agent-2")).await;
    project(&log.store, notifications()).await;

    assert_eq!(
        inbox(&log, "agent-1").await,
        [(Level::Medium, Kind::TicketCreated)]
    );
    assert_eq!(
        inbox(&log, "agent-2").await,
        [
            (Level::Low, Kind::TicketCommented),
            (Level::Low, Kind::TicketCommented),
            (Level::High, Kind::TicketAssigned),
            (Level::Medium, Kind::TicketCreated),
        ]
    );
    // No internal comment, nothing about their own ticket's creation.
    assert_eq!(
        inbox(&log, "cust-1").await,
        [
            (Level::High, Kind::TicketUrgent),
            (Level::Low, Kind::TicketCommented),
        ]
    );

    let assigned = page(log.database(), "agent-2", false, None, 100)
        .await
        .expect("inbox lists")
        .items
        .into_iter()
        .find(|n| n.kind == Kind::TicketAssigned)
        .expect("assignment notified");
    assert_eq!(
        assigned,
        Notification {
            id: "2-agent-2".into(),
            user_id: "agent-2".into(),
            level: Level::High,
            kind: Kind::TicketAssigned,
            ticket_id: ticket.to_string(),
            title: "Ticket assigned to you".into(),
            position: 2,
            created_at: T0 + Duration::minutes(1),
            read_at: None,
        }
    );
}

async fn pages_newest_first_and_filters_unread(log: TestLog) {
    let lead = agent("agent-1");
    let ticket = open_ticket(&log, "cust-1", &customer("cust-1")).await;
    for status in [
        Status::InProgress,
        Status::Waiting,
        Status::Open,
        Status::Resolved,
    ] {
        run(&log, ticket, TicketCommand::ChangeStatus { status }, &lead).await;
    }
    project(&log.store, notifications()).await;
    let positions = |page: Vec<Notification>| page.iter().map(|n| n.position).collect::<Vec<_>>();

    let first = page(log.database(), "cust-1", false, None, 3)
        .await
        .unwrap()
        .items;
    assert_eq!(positions(first), [5, 4, 3]);
    let second = page(log.database(), "cust-1", false, Some(3), 3)
        .await
        .unwrap()
        .items;
    assert_eq!(positions(second), [2]);

    assert!(
        mark_read(log.database(), "cust-1", "4-cust-1")
            .await
            .unwrap()
    );
    let unread = page(log.database(), "cust-1", true, None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(positions(unread), [5, 3, 2]);
    let unread_before = page(log.database(), "cust-1", true, Some(5), 1)
        .await
        .unwrap()
        .items;
    assert_eq!(positions(unread_before), [3]);
    assert_eq!(
        page(log.database(), "nobody", false, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        0
    );
}

async fn read_marks_count_and_survive_a_rebuild(log: TestLog) {
    let lead = agent("agent-1");
    let ticket = open_ticket(&log, "cust-1", &customer("cust-1")).await;
    for status in [Status::InProgress, Status::Waiting, Status::Resolved] {
        run(&log, ticket, TicketCommand::ChangeStatus { status }, &lead).await;
    }
    project(&log.store, notifications()).await;
    let db = log.database();
    assert_eq!(unread_count(db, "cust-1").await.unwrap(), 3);

    assert!(mark_read(db, "cust-1", "2-cust-1").await.unwrap());
    let first_read = read_at(&log, "2-cust-1").await;
    assert!(first_read.is_some());
    assert!(mark_read(db, "cust-1", "2-cust-1").await.unwrap(), "again");
    assert_eq!(
        read_at(&log, "2-cust-1").await,
        first_read,
        "first read kept"
    );
    assert!(
        !mark_read(db, "agent-1", "2-cust-1").await.unwrap(),
        "not theirs"
    );
    assert!(
        !mark_read(db, "cust-1", "99-cust-1").await.unwrap(),
        "unknown"
    );
    assert!(
        !mark_read(db, "cust-1", "3-agent-1").await.unwrap(),
        "another's id"
    );
    assert!(
        !mark_read(db, "cust-1", "cust-1").await.unwrap(),
        "not an id"
    );
    assert_eq!(unread_count(db, "cust-1").await.unwrap(), 2);

    rebuild(&log.store, notifications()).await;
    assert_eq!(
        read_at(&log, "2-cust-1").await,
        first_read,
        "kept by the rebuild"
    );
    assert_eq!(unread_count(db, "cust-1").await.unwrap(), 2);

    assert_eq!(mark_all_read(db, "cust-1").await.unwrap(), 2);
    assert_eq!(mark_all_read(db, "cust-1").await.unwrap(), 0);
    assert_eq!(unread_count(db, "cust-1").await.unwrap(), 0);
    assert_eq!(read_at(&log, "2-cust-1").await, first_read);

    run(
        &log,
        ticket,
        TicketCommand::ChangeStatus {
            status: Status::Closed,
        },
        &lead,
    )
    .await;
    project(&log.store, notifications()).await;
    assert_eq!(unread_count(db, "cust-1").await.unwrap(), 1);
}

async fn read_at(log: &TestLog, id: &str) -> Option<time::OffsetDateTime> {
    page(log.database(), "cust-1", false, None, 100)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|n| n.id == id)
        .expect("notification listed")
        .read_at
}

async fn small_batches_equal_a_rebuild(log: TestLog) {
    add_team(log.database(), "t1", &["agent-1", "agent-2"]).await;
    add_team(log.database(), "t2", &["agent-3"]).await;
    let tables = [("notifications", "id")];
    for round in 0..3 {
        mixed_history(&log, 2).await;
        project_in_batches(&log.store, notifications(), 3 + round).await;
    }
    let incremental = dump(log.database(), &tables).await;
    assert!(incremental[0].len() > 30, "the history notifies");
    rebuild(&log.store, notifications()).await;
    assert_eq!(dump(log.database(), &tables).await, incremental);
}
