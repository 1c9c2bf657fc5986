//! The room feed on both backends: what each event kind becomes (event
//! names, rooms, audience, payload), offsets, per-room replay, retention,
//! epochs, and batches that add up to a rebuild.

mod notify_support;

use std::sync::Arc;

use bomizzel_domain::{Priority, Status, TicketCommand};
use bomizzel_projections::Projection;
use bomizzel_projections::feed::{
    Audience, FeedChange, RoomFeedProjection, head, meta, recoverable, replay, since, trim,
};
use bomizzel_projections::notifications::{NotificationsProjection, page};
use bomizzel_projections::on_both_backends;
use bomizzel_projections::testing::{TestLog, dump_table, project};
use notify_support::*;
use serde_json::{Value, json};
use time::Duration;
use uuid::Uuid;

on_both_backends!(
    each_event_kind_becomes_its_changes,
    one_event_can_send_two_changes_to_one_room,
    replay_gives_each_change_once_in_offset_order,
    trim_drops_old_changes_and_says_what_is_recoverable,
    a_rebuild_starts_a_new_epoch,
    small_batches_equal_a_rebuild,
);

fn feed() -> Arc<dyn Projection> {
    Arc::new(RoomFeedProjection)
}

/// A change as the tests compare it.
#[derive(Debug, PartialEq)]
struct Seen {
    event: String,
    rooms: Vec<String>,
    audience: Audience,
    payload: Value,
}

fn seen(change: &FeedChange) -> Seen {
    Seen {
        event: change.event.clone(),
        rooms: change.rooms.clone(),
        audience: change.audience,
        payload: serde_json::from_str(change.payload.get()).expect("payload is JSON"),
    }
}

/// A change as it must be; every payload carries the ticket's number (the
/// tests open one ticket on a fresh log: number 1).
fn expect(event: &str, rooms: &[&str], audience: Audience, mut payload: Value) -> Seen {
    payload["number"] = json!(1);
    Seen {
        event: event.into(),
        rooms: rooms.iter().map(|room| room.to_string()).collect(),
        audience,
        payload,
    }
}

/// Projects what is new and returns the changes it made.
async fn project_new(log: &TestLog) -> Vec<Seen> {
    let before = head(log.database()).await.expect("head reads");
    project(&log.store, feed()).await;
    let changes = since(log.database(), before, 1000)
        .await
        .expect("feed reads");
    let offsets: Vec<i64> = changes.iter().map(|c| c.offset).collect();
    let dense: Vec<i64> = (before + 1..=before + changes.len() as i64).collect();
    assert_eq!(offsets, dense, "offsets go on from the head, one by one");
    changes.iter().map(seen).collect()
}

/// The notification payload the inbox would show, with the event's version.
async fn notification_payload(log: &TestLog, user: &str, id: &str, version: u64) -> Value {
    project(&log.store, Arc::new(NotificationsProjection)).await;
    let notification = page(log.database(), user, false, None, 100)
        .await
        .expect("inbox lists")
        .items
        .into_iter()
        .find(|n| n.id == id)
        .expect("the inbox has the feed's notification");
    let mut payload = serde_json::to_value(notification).expect("notification serializes");
    payload["version"] = json!(version);
    payload
}

async fn each_event_kind_becomes_its_changes(log: TestLog) {
    add_team(log.database(), "t1", &["agent-1", "agent-2"]).await;
    let lead = agent("agent-1");
    let ticket = open_ticket(&log, "cust-1", &customer("cust-1")).await;
    let id = ticket.to_string();
    let t = format!("ticket:{id}");
    let staff_rooms = [t.as_str(), "queue:q1", "team:t1", "company:c1"];
    let customer_rooms = [t.as_str(), "company:c1"];

    let created = json!({
        "ticket_id": id, "version": 1, "title": "Printer on fire",
        "description": "Smoke everywhere", "company_id": "c1", "requester_id": "cust-1",
        "priority": "medium", "status": "open", "assignee_id": null,
    });
    let mut created_for_staff = created.clone();
    created_for_staff["queue_id"] = json!("q1");
    created_for_staff["team_id"] = json!("t1");
    created_for_staff["tags"] = json!(["hardware"]);
    assert_eq!(
        project_new(&log).await,
        [
            expect(
                "ticket:created",
                &staff_rooms,
                Audience::Staff,
                created_for_staff
            ),
            expect(
                "ticket:created",
                &customer_rooms,
                Audience::Customer,
                created
            ),
            expect(
                "notification:created",
                &["user:agent-1"],
                Audience::All,
                notification_payload(&log, "agent-1", "1-agent-1", 1).await
            ),
            expect(
                "notification:created",
                &["user:agent-2"],
                Audience::All,
                notification_payload(&log, "agent-2", "1-agent-2", 1).await
            ),
        ]
    );

    let assign = TicketCommand::Assign {
        assignee_id: "agent-2".into(),
    };
    run(&log, ticket, assign, &lead).await;
    assert_eq!(
        project_new(&log).await,
        [
            expect(
                "ticket:assigned",
                &staff_rooms,
                Audience::All,
                json!({"ticket_id": id, "version": 2, "assignee_id": "agent-2", "previous_assignee_id": null}),
            ),
            expect(
                "user:ticket_assigned",
                &["user:agent-2"],
                Audience::Staff,
                json!({
                    "ticket_id": id, "version": 2, "assignee_id": "agent-2",
                    "previous_assignee_id": null, "company_id": "c1", "requester_id": "cust-1",
                    "queue_id": "q1", "team_id": "t1",
                }),
            ),
            expect(
                "notification:created",
                &["user:agent-2"],
                Audience::All,
                notification_payload(&log, "agent-2", "2-agent-2", 2).await
            ),
        ]
    );

    let status = TicketCommand::ChangeStatus {
        status: Status::InProgress,
    };
    run(&log, ticket, status, &lead).await;
    let changes = project_new(&log).await;
    assert_eq!(
        changes[0],
        expect(
            "ticket:status_changed",
            &staff_rooms,
            Audience::All,
            json!({"ticket_id": id, "version": 3, "from": "open", "to": "in_progress"}),
        )
    );
    assert_eq!(notified(&changes), ["user:cust-1", "user:agent-2"]);

    let priority = TicketCommand::ChangePriority {
        priority: Priority::Urgent,
    };
    run(&log, ticket, priority, &lead).await;
    let changes = project_new(&log).await;
    assert_eq!(
        changes[0],
        expect(
            "ticket:priority_changed",
            &staff_rooms,
            Audience::All,
            json!({"ticket_id": id, "version": 4, "from": "medium", "to": "urgent"}),
        )
    );
    assert_eq!(changes[1].payload["level"], "high");
    assert_eq!(changes[1].payload["kind"], "ticket_urgent");

    let retitle = TicketCommand::Update {
        title: Some("Printer still on fire".into()),
        description: None,
        tags: None,
    };
    run(&log, ticket, retitle, &lead).await;
    assert_eq!(
        project_new(&log).await[0],
        expect(
            "ticket:updated",
            &staff_rooms,
            Audience::All,
            json!({"ticket_id": id, "version": 5, "title": "Printer still on fire"}),
        )
    );

    let retag = TicketCommand::Update {
        title: None,
        description: Some("Less smoke".into()),
        tags: Some(vec!["fire".into()]),
    };
    run(&log, ticket, retag, &lead).await;
    let changes = project_new(&log).await;
    assert_eq!(
        changes[..2],
        [
            expect(
                "ticket:updated",
                &staff_rooms,
                Audience::Staff,
                json!({"ticket_id": id, "version": 6, "description": "Less smoke", "tags": ["fire"]}),
            ),
            expect(
                "ticket:updated",
                &customer_rooms,
                Audience::Customer,
                json!({"ticket_id": id, "version": 6, "description": "Less smoke"}),
            ),
        ]
    );

    let tags_only = TicketCommand::Update {
        title: None,
        description: None,
        tags: Some(vec!["fire".into(), "hardware".into()]),
    };
    run(&log, ticket, tags_only, &lead).await;
    let changes = project_new(&log).await;
    assert_eq!(
        changes[0],
        expect(
            "ticket:updated",
            &staff_rooms,
            Audience::Staff,
            json!({"ticket_id": id, "version": 7, "tags": ["fire", "hardware"]}),
        )
    );
    assert_eq!(changes[1].event, "notification:created", "no customer twin");

    let relocate = TicketCommand::Move {
        queue_id: "q2".into(),
        team_id: "t2".into(),
    };
    run(&log, ticket, relocate, &lead).await;
    let changes = project_new(&log).await;
    assert_eq!(
        changes[0],
        expect(
            "ticket:updated",
            &[
                t.as_str(),
                "queue:q1",
                "team:t1",
                "queue:q2",
                "team:t2",
                "company:c1"
            ],
            Audience::Staff,
            json!({
                "ticket_id": id, "version": 8, "from_queue_id": "q1", "from_team_id": "t1",
                "queue_id": "q2", "team_id": "t2",
            }),
        )
    );
    assert_eq!(
        notified(&changes),
        ["user:agent-2"],
        "the requester is not told of a move"
    );
    let moved_rooms = [t.as_str(), "queue:q2", "team:t2", "company:c1"];

    let comment_id = Uuid::now_v7();
    let internal = TicketCommand::AddComment {
        comment_id,
        author_id: "agent-1".into(),
        body: "customer is wrong".into(),
        internal: true,
    };
    run(&log, ticket, internal, &lead).await;
    let changes = project_new(&log).await;
    assert_eq!(
        changes[0],
        expect(
            "ticket:commented",
            &moved_rooms,
            Audience::Staff,
            json!({
                "ticket_id": id, "version": 9, "comment_id": comment_id, "author_id": "agent-1",
                "body": "customer is wrong", "internal": true,
            }),
        )
    );
    assert_eq!(changes.len(), 2);
    assert_eq!(notified(&changes), ["user:agent-2"], "never the requester");

    let public = TicketCommand::AddComment {
        comment_id,
        author_id: "agent-1".into(),
        body: "on our way".into(),
        internal: false,
    };
    run(&log, ticket, public, &lead).await;
    // Three events were hidden from customers (tags-only edit, move,
    // internal comment): from here on they count versions of their own.
    let changes = project_new(&log).await;
    let (staff, customer) = (&changes[0], &changes[1]);
    assert_eq!(
        (
            staff.event.as_str(),
            staff.audience,
            &staff.payload["version"]
        ),
        ("ticket:commented", Audience::Staff, &json!(10))
    );
    assert_eq!(
        (customer.audience, &customer.payload["version"]),
        (Audience::Customer, &json!(7))
    );
    assert_eq!(customer.rooms, customer_rooms);
    assert_eq!(customer.payload["internal"], false);
    assert_eq!(notified(&changes), ["user:cust-1", "user:agent-2"]);
    assert_eq!(changes[2].payload["version"], 7, "the requester's count");
    assert_eq!(changes[3].payload["version"], 10);

    run(&log, ticket, TicketCommand::Unassign, &lead).await;
    let changes = project_new(&log).await;
    let unassigned = json!({"assignee_id": null, "previous_assignee_id": "agent-2"});
    let with_version = |version: u64| {
        let mut payload = unassigned.clone();
        payload["ticket_id"] = json!(id);
        payload["version"] = json!(version);
        payload
    };
    assert_eq!(
        changes[..2],
        [
            expect(
                "ticket:assigned",
                &moved_rooms,
                Audience::Staff,
                with_version(11)
            ),
            expect(
                "ticket:assigned",
                &customer_rooms,
                Audience::Customer,
                with_version(8)
            ),
        ]
    );
    assert_eq!(notified(&changes), ["user:cust-1", "user:agent-2"]);
}

/// The user rooms of the `notification:created` changes, in order.
fn notified(changes: &[Seen]) -> Vec<String> {
    changes
        .iter()
        .filter(|change| change.event == "notification:created")
        .flat_map(|change| change.rooms.clone())
        .collect()
}

async fn one_event_can_send_two_changes_to_one_room(log: TestLog) {
    let ticket = open_ticket(&log, "cust-1", &customer("cust-1")).await;
    let assign = TicketCommand::Assign {
        assignee_id: "agent-2".into(),
    };
    run(&log, ticket, assign, &agent("agent-1")).await;
    project(&log.store, feed()).await;

    let room = ["user:agent-2".to_owned()];
    let both = replay(log.database(), &room, 0, 10).await.unwrap();
    let names: Vec<&str> = both.iter().map(|c| c.event.as_str()).collect();
    assert_eq!(names, ["user:ticket_assigned", "notification:created"]);
    assert_eq!(both[0].position, both[1].position, "one event");
    assert_eq!(both[1].offset, both[0].offset + 1);

    let resumed = replay(log.database(), &room, both[0].offset, 10)
        .await
        .unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].offset, both[1].offset);
}

async fn replay_gives_each_change_once_in_offset_order(log: TestLog) {
    add_team(log.database(), "t1", &["agent-1", "agent-2"]).await;
    add_team(log.database(), "t2", &["agent-3"]).await;
    mixed_history(&log, 3).await;
    project(&log.store, feed()).await;
    let everything = since(log.database(), 0, 10_000).await.unwrap();
    let first_ticket = everything[0].rooms[0].clone();
    let rooms: Vec<String> = [
        first_ticket.as_str(),
        "queue:q1",
        "company:c1",
        "user:agent-2",
    ]
    .map(String::from)
    .to_vec();

    for after in [0, 5, 17, everything.len() as i64] {
        let expected: Vec<i64> = everything
            .iter()
            .filter(|c| c.offset > after && c.rooms.iter().any(|room| rooms.contains(room)))
            .map(|c| c.offset)
            .collect();
        let replayed = replay(log.database(), &rooms, after, 10_000).await.unwrap();
        let offsets: Vec<i64> = replayed.iter().map(|c| c.offset).collect();
        assert_eq!(offsets, expected, "after {after}");
        let limited = replay(log.database(), &rooms, after, 4).await.unwrap();
        let first_four: Vec<i64> = expected.iter().copied().take(4).collect();
        assert_eq!(
            limited.iter().map(|c| c.offset).collect::<Vec<_>>(),
            first_four
        );
    }
    let several = replay(log.database(), &rooms, 0, 10_000).await.unwrap();
    assert!(
        several
            .iter()
            .any(|c| c.rooms.iter().filter(|r| rooms.contains(r)).count() > 1),
        "the test covers changes in several requested rooms"
    );
    assert!(replay(log.database(), &[], 0, 10).await.unwrap().is_empty());
    // More rooms than one query takes, most of them empty.
    let mut many: Vec<String> = (0..250).map(|n| format!("user:nobody-{n}")).collect();
    many.extend(rooms.iter().rev().cloned());
    let from_many = replay(log.database(), &many, 0, 10_000).await.unwrap();
    assert_eq!(
        from_many.iter().map(|c| c.offset).collect::<Vec<_>>(),
        several.iter().map(|c| c.offset).collect::<Vec<_>>()
    );

    // Every change carries its ticket and version.
    for change in &everything {
        let payload = seen(change).payload;
        let ticket = payload["ticket_id"].as_str().expect("ticket_id");
        assert!(payload["version"].as_u64().is_some_and(|v| v >= 1));
        if change.event.starts_with("ticket:") {
            assert_eq!(change.rooms[0], format!("ticket:{ticket}"));
        }
    }
    let limited = since(log.database(), 3, 2).await.unwrap();
    assert_eq!(limited.iter().map(|c| c.offset).collect::<Vec<_>>(), [4, 5]);
}

async fn trim_drops_old_changes_and_says_what_is_recoverable(log: TestLog) {
    let db = log.database();
    let old = customer("cust-1").at(T0 - Duration::days(10));
    open_ticket(&log, "cust-1", &old).await;
    open_ticket(&log, "cust-1", &old).await;
    project(&log.store, feed()).await;
    let old_head = head(db).await.unwrap();
    let young = open_ticket(&log, "cust-1", &customer("cust-1")).await;
    project(&log.store, feed()).await;
    let full_head = head(db).await.unwrap();
    assert!(full_head > old_head && old_head > 0);

    assert_eq!(
        trim(db, T0 - Duration::days(7)).await.unwrap(),
        old_head as u64
    );
    assert_eq!(
        trim(db, T0 - Duration::days(7)).await.unwrap(),
        0,
        "nothing more"
    );
    let bounds = meta(db).await.unwrap().expect("meta");
    assert_eq!((bounds.trimmed_through, bounds.head), (old_head, full_head));
    assert!(recoverable(db, old_head).await.unwrap());
    assert!(recoverable(db, full_head).await.unwrap());
    assert!(!recoverable(db, old_head - 1).await.unwrap());
    assert!(!recoverable(db, 0).await.unwrap());

    let left = since(db, 0, 100).await.unwrap();
    assert_eq!(left.first().map(|c| c.offset), Some(old_head + 1));
    assert_eq!(left.len() as i64, full_head - old_head);
    let young_room = [format!("ticket:{young}"), "company:c1".to_owned()];
    let replayed = replay(db, &young_room, 0, 100).await.unwrap();
    assert!(replayed.iter().all(|c| c.offset > old_head) && !replayed.is_empty());
    let stale_rooms = dump_table(db, "room_feed_rooms", "room").await;
    assert!(
        stale_rooms
            .iter()
            .all(
                |row| serde_json::from_str::<Value>(row).unwrap()["offset"].as_i64()
                    > Some(old_head)
            ),
        "no room rows of trimmed changes: {stale_rooms:?}"
    );

    assert_eq!(
        trim(db, T0 + Duration::days(1)).await.unwrap(),
        left.len() as u64
    );
    assert!(since(db, 0, 100).await.unwrap().is_empty());
    assert!(dump_table(db, "room_feed_rooms", "room").await.is_empty());
    assert_eq!(head(db).await.unwrap(), full_head, "the head stays");
    assert!(recoverable(db, full_head).await.unwrap());

    run(
        &log,
        young,
        TicketCommand::ChangeStatus {
            status: Status::Waiting,
        },
        &agent("agent-1"),
    )
    .await;
    project(&log.store, feed()).await;
    let next = since(db, 0, 100).await.unwrap();
    assert_eq!(
        next.first().map(|c| c.offset),
        Some(full_head + 1),
        "offsets go on"
    );
}

async fn a_rebuild_starts_a_new_epoch(log: TestLog) {
    let created = meta(log.database())
        .await
        .unwrap()
        .expect("the feed has an epoch from the start");
    assert_eq!((created.head, created.trimmed_through), (0, 0));
    assert_eq!(head(log.database()).await.unwrap(), 0);
    mixed_history(&log, 1).await;
    project(&log.store, feed()).await;
    let first = meta(log.database()).await.unwrap().expect("meta");
    assert_eq!(first.epoch, created.epoch, "the first changes keep it");
    trim(log.database(), T0 + Duration::days(1)).await.unwrap();

    rebuild(&log.store, feed()).await;
    let second = meta(log.database()).await.unwrap().expect("meta");
    assert_ne!(second.epoch, first.epoch);
    assert_eq!(second.head, first.head, "same events, same offsets");
    assert_eq!(second.trimmed_through, 0);
    assert_eq!(
        since(log.database(), 0, 1000).await.unwrap().len() as i64,
        second.head
    );
}

async fn small_batches_equal_a_rebuild(log: TestLog) {
    add_team(log.database(), "t1", &["agent-1", "agent-2"]).await;
    add_team(log.database(), "t2", &["agent-3"]).await;
    for round in 0..3 {
        mixed_history(&log, 2).await;
        project_in_batches(&log.store, feed(), 1 + round).await;
    }
    let incremental = feed_dump(&log).await;
    assert!(incremental[0].len() > 100, "the history fills the feed");
    rebuild(&log.store, feed()).await;
    assert_eq!(feed_dump(&log).await, incremental);
}

/// The feed's tables, without the (random) epoch.
async fn feed_dump(log: &TestLog) -> Vec<Vec<String>> {
    let mut tables = dump(
        log.database(),
        &[
            ("room_feed", "\"offset\""),
            ("room_feed_rooms", "room, \"offset\""),
        ],
    )
    .await;
    let meta = meta(log.database()).await.unwrap().expect("meta");
    tables.push(vec![format!("{} {}", meta.head, meta.trimmed_through)]);
    tables
}
