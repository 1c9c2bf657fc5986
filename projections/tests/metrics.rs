//! The queue metrics read model on SQLite and, when there is a server
//! (`bomizzel_store::testing`), PostgreSQL: figures of hand-made scenarios at fixed times, SLA breaches, moves, reopens,
//! hourly buckets, medians, batching independence; and the pure live-push helpers.

use bomizzel_projections::on_both_backends;
use std::sync::Arc;
use std::time::Duration;

use bomizzel_domain::{Priority, Status, TicketCommand};
use bomizzel_projections::metrics::{
    DurationStats, HourlyBucket, MetricsCoalescer, QueueMetrics, QueueMetricsProjection,
    SlaTargets, hourly, queue_metrics, touched_queues,
};
use bomizzel_projections::testing::{Actor, TestLog, dump_table, execute, project};
use bomizzel_projections::{ProjectedEvent, Runner, RunnerSettings, checkpoint};
use serde_json::{Value, json};
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};
use tokio::time::Instant;
use uuid::Uuid;

on_both_backends!(
    figures_of_a_hand_made_queue,
    sla_breaches_follow_default_and_custom_targets,
    a_move_takes_the_ticket_and_its_figures_to_the_new_queue,
    a_reopen_clears_the_resolution_until_the_ticket_is_resolved_again,
    hourly_buckets_and_today_follow_utc,
    medians_of_odd_and_even_counts,
    small_batches_and_a_rebuild_give_the_same_tables,
);

/// A Tuesday morning, 09:00 UTC.
const T: OffsetDateTime = datetime!(2024-03-05 09:00 UTC);
const MINUTE: time::Duration = time::Duration::MINUTE;
const HOUR: time::Duration = time::Duration::HOUR;

fn agent() -> Actor {
    Actor::new("agent-1", "agent")
}

async fn create(
    log: &TestLog,
    n: u128,
    queue: &str,
    priority: Priority,
    at: OffsetDateTime,
) -> Uuid {
    let id = Uuid::from_u128(n);
    let command = TicketCommand::Create {
        id,
        number: n as u64,
        title: format!("ticket {n}"),
        description: "something is wrong".into(),
        company_id: "company-1".into(),
        requester_id: "customer-1".into(),
        queue_id: queue.into(),
        team_id: "team-1".into(),
        priority,
        tags: vec![],
    };
    run(log, id, command, at).await;
    id
}

async fn run(log: &TestLog, ticket: Uuid, command: TicketCommand, at: OffsetDateTime) {
    execute(&log.store, ticket, command, &agent().at(at))
        .await
        .expect("command accepted")
        .expect("command appends an event");
}

async fn assign(log: &TestLog, ticket: Uuid, at: OffsetDateTime) {
    let command = TicketCommand::Assign {
        assignee_id: "agent-1".into(),
    };
    run(log, ticket, command, at).await;
}

async fn set_status(log: &TestLog, ticket: Uuid, status: Status, at: OffsetDateTime) {
    run(log, ticket, TicketCommand::ChangeStatus { status }, at).await;
}

/// Projects everything appended so far, then reads the queue's figures at `now`.
async fn metrics_at(
    log: &TestLog,
    queue: &str,
    now: OffsetDateTime,
    sla: &SlaTargets,
) -> QueueMetrics {
    project(&log.store, Arc::new(QueueMetricsProjection)).await;
    queue_metrics(log.database(), queue, now, sla)
        .await
        .expect("metrics read")
}

fn stats(count: i64, mean: f64, median: f64) -> DurationStats {
    DurationStats {
        count,
        mean_secs: Some(mean),
        median_secs: Some(median),
    }
}

fn bucket(hour: OffsetDateTime, created: i64, first_assigned: i64, resolved: i64) -> HourlyBucket {
    HourlyBucket {
        hour_unix: hour.unix_timestamp(),
        created,
        first_assigned,
        resolved,
    }
}

async fn buckets(
    log: &TestLog,
    queue: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Vec<HourlyBucket> {
    hourly(
        log.database(),
        queue,
        from.unix_timestamp(),
        to.unix_timestamp(),
    )
    .await
    .expect("buckets read")
}

async fn figures_of_a_hand_made_queue(log: TestLog) {
    let queue = "q-support";
    let a = create(&log, 1, queue, Priority::High, T).await;
    let e = create(&log, 5, queue, Priority::Medium, T).await;
    let b = create(&log, 2, queue, Priority::Urgent, T + 5 * MINUTE).await;
    assign(&log, a, T + 10 * MINUTE).await;
    set_status(&log, a, Status::InProgress, T + 15 * MINUTE).await;
    assign(&log, e, T + 20 * MINUTE).await;
    assign(&log, b, T + 35 * MINUTE).await;
    set_status(&log, b, Status::InProgress, T + 40 * MINUTE).await;
    let _c = create(&log, 3, queue, Priority::Low, T + HOUR).await;
    let d = create(&log, 4, queue, Priority::Medium, T + 90 * MINUTE).await;
    set_status(&log, a, Status::Resolved, T + 2 * HOUR).await;
    set_status(&log, d, Status::Waiting, T + 2 * HOUR).await;
    set_status(&log, e, Status::Closed, T + 3 * HOUR).await;
    // Another queue's tickets stay out of these figures.
    create(&log, 6, "q-other", Priority::Urgent, T).await;

    let now = T + 6 * HOUR;
    let metrics = metrics_at(&log, queue, now, &SlaTargets::default()).await;

    assert_eq!(metrics.queue_id, queue);
    assert_eq!(metrics.computed_at, now);
    assert_eq!(metrics.open_total, 3);
    assert_eq!(
        (
            metrics.open_by_status.open,
            metrics.open_by_status.in_progress,
            metrics.open_by_status.waiting
        ),
        (1, 1, 1)
    );
    let by_priority = metrics.open_by_priority;
    assert_eq!(
        (
            by_priority.low,
            by_priority.medium,
            by_priority.high,
            by_priority.urgent
        ),
        (1, 1, 0, 1)
    );
    assert_eq!(metrics.unassigned_open, 2, "c and d");
    assert_eq!(
        metrics.oldest_open_age_secs,
        Some((6 * 60 - 5) * 60),
        "b, created at T+5min"
    );
    assert_eq!((metrics.created_today, metrics.resolved_today), (5, 2));
    // a 10 min, b 30 min, e 20 min.
    assert_eq!(metrics.first_assignment, stats(3, 1200.0, 1200.0));
    // a resolved after 2 h, e closed (never resolved) after 3 h.
    assert_eq!(metrics.resolution, stats(2, 9000.0, 9000.0));
    // b (urgent) was assigned after 30 min > 15; d (medium) is unassigned after 4.5 h > 4.
    assert_eq!(metrics.sla.late_first_assignment, 1);
    assert_eq!(metrics.sla.unassigned_past_target, 1);
    assert_eq!(metrics.sla.total, 2);

    let body = serde_json::to_value(&metrics).expect("serializes");
    assert_eq!(body["queue_id"], json!(queue));
    assert_eq!(body["computed_at"], json!("2024-03-05T15:00:00Z"));
    assert_eq!(
        body["open_by_status"],
        json!({"open": 1, "in_progress": 1, "waiting": 1})
    );
    assert_eq!(
        body["first_assignment"],
        json!({"count": 3, "mean_secs": 1200.0, "median_secs": 1200.0})
    );
    assert_eq!(body["sla"]["targets"]["urgent_secs"], json!(900));

    assert_eq!(
        buckets(&log, queue, T, T + 24 * HOUR).await,
        vec![
            bucket(T, 3, 3, 0),
            bucket(T + HOUR, 2, 0, 0),
            bucket(T + 2 * HOUR, 0, 0, 1),
            bucket(T + 3 * HOUR, 0, 0, 1),
        ]
    );

    // The next UTC day: nothing created or resolved yet, the same averages.
    let tomorrow = metrics_at(
        &log,
        queue,
        datetime!(2024-03-06 01:00 UTC),
        &SlaTargets::default(),
    )
    .await;
    assert_eq!((tomorrow.created_today, tomorrow.resolved_today), (0, 0));
    assert_eq!(tomorrow.resolution, metrics.resolution);

    let nothing = metrics_at(&log, "q-unknown", now, &SlaTargets::default()).await;
    assert_eq!(nothing.open_total, 0);
    assert_eq!(nothing.oldest_open_age_secs, None);
    assert_eq!(nothing.first_assignment, DurationStats::default());
    assert_eq!(nothing.first_assignment.mean_secs, None);
}

async fn sla_breaches_follow_default_and_custom_targets(log: TestLog) {
    let queue = "q-sla";
    let urgent_on_time = create(&log, 1, queue, Priority::Urgent, T).await;
    let urgent_late = create(&log, 2, queue, Priority::Urgent, T).await;
    let lowered = create(&log, 3, queue, Priority::High, T).await;
    let _medium_waiting = create(&log, 4, queue, Priority::Medium, T).await;
    let _low_waiting = create(&log, 5, queue, Priority::Low, T).await;
    let closed_unassigned = create(&log, 6, queue, Priority::Low, T).await;
    let unassigned_again = create(&log, 7, queue, Priority::Medium, T).await;

    // Exactly at the target is on time; one minute more is late.
    assign(&log, urgent_on_time, T + 15 * MINUTE).await;
    assign(&log, urgent_late, T + 16 * MINUTE).await;
    // Held to the priority it had when assigned (low: 24 h), whatever it becomes later.
    run(
        &log,
        lowered,
        TicketCommand::ChangePriority {
            priority: Priority::Low,
        },
        T + 10 * MINUTE,
    )
    .await;
    assign(&log, lowered, T + 2 * HOUR).await;
    run(
        &log,
        lowered,
        TicketCommand::ChangePriority {
            priority: Priority::Urgent,
        },
        T + 3 * HOUR,
    )
    .await;
    // Not open: never counted as waiting for an assignment.
    set_status(&log, closed_unassigned, Status::Closed, T + HOUR).await;
    // Assigned on time, then unassigned: its first assignment stands.
    assign(&log, unassigned_again, T + 30 * MINUTE).await;
    run(&log, unassigned_again, TicketCommand::Unassign, T + HOUR).await;

    let now = T + 5 * HOUR;
    let default = metrics_at(&log, queue, now, &SlaTargets::default()).await;
    assert_eq!(
        default.sla.late_first_assignment, 1,
        "the urgent one assigned after 16 min"
    );
    assert_eq!(
        default.sla.unassigned_past_target, 1,
        "the medium one waiting 5 h > 4 h"
    );
    assert_eq!(default.sla.total, 2);
    assert_eq!(default.unassigned_open, 3);

    let strict = SlaTargets::from_minutes(10, 60, 20, 60);
    assert_eq!(
        strict,
        SlaTargets {
            urgent_secs: 600,
            high_secs: 3600,
            medium_secs: 1200,
            low_secs: 3600
        }
    );
    let custom = metrics_at(&log, queue, now, &strict).await;
    // Both urgent ones (15 and 16 min > 10), the lowered one (2 h > 1 h), the unassigned-again
    // one (30 min > 20).
    assert_eq!(custom.sla.late_first_assignment, 4);
    // The medium one (5 h > 20 min) and the low one (5 h > 1 h).
    assert_eq!(custom.sla.unassigned_past_target, 2);
    assert_eq!(custom.sla.total, 6);
    assert_eq!(custom.sla.targets, strict);

    // Earlier, the medium one had not yet waited past its target.
    let earlier = metrics_at(&log, queue, T + 4 * HOUR, &SlaTargets::default()).await;
    assert_eq!(earlier.sla.unassigned_past_target, 0);
}

async fn a_move_takes_the_ticket_and_its_figures_to_the_new_queue(log: TestLog) {
    let moved = create(&log, 1, "q-a", Priority::Medium, T).await;
    let stays = create(&log, 2, "q-a", Priority::High, T + 5 * MINUTE).await;
    assign(&log, moved, T + 10 * MINUTE).await;
    let before = metrics_at(&log, "q-a", T + 20 * MINUTE, &SlaTargets::default()).await;
    assert_eq!((before.open_total, before.first_assignment.count), (2, 1));

    let head = log.store.head().await.expect("head");
    run(
        &log,
        moved,
        TicketCommand::Move {
            queue_id: "q-b".into(),
            team_id: "team-2".into(),
        },
        T + 30 * MINUTE,
    )
    .await;
    let comment = TicketCommand::AddComment {
        comment_id: Uuid::from_u128(99),
        author_id: "agent-1".into(),
        body: "moved to billing".into(),
        internal: true,
    };
    run(&log, moved, comment, T + 31 * MINUTE).await;
    set_status(&log, moved, Status::Resolved, T + HOUR).await;
    run(
        &log,
        stays,
        TicketCommand::Update {
            title: Some("renamed".into()),
            description: None,
            tags: None,
        },
        T + HOUR,
    )
    .await;

    let now = T + 2 * HOUR;
    let a = metrics_at(&log, "q-a", now, &SlaTargets::default()).await;
    let b = metrics_at(&log, "q-b", now, &SlaTargets::default()).await;
    assert_eq!(
        (a.open_total, a.created_today, a.first_assignment.count),
        (1, 1, 0)
    );
    assert_eq!(a.oldest_open_age_secs, Some((2 * 60 - 5) * 60));
    assert_eq!((b.open_total, b.created_today, b.resolved_today), (0, 1, 1));
    assert_eq!(b.first_assignment, stats(1, 600.0, 600.0));
    assert_eq!(b.resolution, stats(1, 3600.0, 3600.0));
    assert_eq!(buckets(&log, "q-a", T, now).await, vec![bucket(T, 1, 0, 0)]);
    assert_eq!(
        buckets(&log, "q-b", T, now).await,
        vec![bucket(T, 1, 1, 0), bucket(T + HOUR, 0, 0, 1)]
    );

    let events: Vec<ProjectedEvent> = log
        .store
        .read_all(head, 100)
        .await
        .expect("log reads")
        .into_iter()
        .map(|event| ProjectedEvent::decode(event).expect("decodes"))
        .collect();
    let names = |queues: &[&str]| queues.iter().map(|q| q.to_string()).collect();
    assert_eq!(
        touched_queues(&events[..1]),
        names(&["q-a", "q-b"]),
        "the move"
    );
    assert_eq!(touched_queues(&events[1..2]), names(&[]), "the comment");
    assert_eq!(
        touched_queues(&events[2..3]),
        names(&["q-b"]),
        "the resolve"
    );
    assert_eq!(touched_queues(&events[3..]), names(&[]), "the edit");
    assert_eq!(touched_queues(&events), names(&["q-a", "q-b"]));
}

async fn a_reopen_clears_the_resolution_until_the_ticket_is_resolved_again(log: TestLog) {
    let queue = "q-reopen";
    let ticket = create(&log, 1, queue, Priority::High, T).await;
    set_status(&log, ticket, Status::Resolved, T + HOUR).await;
    let resolved = metrics_at(&log, queue, T + 90 * MINUTE, &SlaTargets::default()).await;
    assert_eq!(resolved.resolution, stats(1, 3600.0, 3600.0));
    assert_eq!((resolved.open_total, resolved.resolved_today), (0, 1));

    set_status(&log, ticket, Status::Open, T + 2 * HOUR).await;
    let reopened = metrics_at(&log, queue, T + 3 * HOUR, &SlaTargets::default()).await;
    assert_eq!(reopened.resolution, DurationStats::default());
    assert_eq!((reopened.open_total, reopened.resolved_today), (1, 0));
    assert_eq!(reopened.oldest_open_age_secs, Some(3 * 3600));
    assert_eq!(
        buckets(&log, queue, T, T + 24 * HOUR).await,
        vec![bucket(T, 1, 0, 0)]
    );

    // Closed without a new resolve: the close is the resolution, measured from creation.
    set_status(&log, ticket, Status::Closed, T + 5 * HOUR).await;
    let closed = metrics_at(&log, queue, T + 6 * HOUR, &SlaTargets::default()).await;
    assert_eq!(closed.resolution, stats(1, 5.0 * 3600.0, 5.0 * 3600.0));
    assert_eq!(
        buckets(&log, queue, T, T + 24 * HOUR).await,
        vec![bucket(T, 1, 0, 0), bucket(T + 5 * HOUR, 0, 0, 1)]
    );

    // Reopened from closed, resolved, then closed: the resolve time stands.
    set_status(&log, ticket, Status::Open, T + 6 * HOUR).await;
    set_status(&log, ticket, Status::Resolved, T + 7 * HOUR).await;
    set_status(&log, ticket, Status::Closed, T + 8 * HOUR).await;
    let final_figures = metrics_at(&log, queue, T + 9 * HOUR, &SlaTargets::default()).await;
    assert_eq!(
        final_figures.resolution,
        stats(1, 7.0 * 3600.0, 7.0 * 3600.0)
    );
    assert_eq!(final_figures.resolved_today, 1);
    assert_eq!(
        buckets(&log, queue, T, T + 24 * HOUR).await,
        vec![bucket(T, 1, 0, 0), bucket(T + 7 * HOUR, 0, 0, 1)]
    );
    let facts = dump_rows(&log, "queue_ticket_facts", "ticket_id").await;
    assert_eq!(facts[0]["reopen_count"], json!(2));
    assert_eq!(facts[0]["status"], json!("closed"));
    let resolved_at: OffsetDateTime = T + HOUR * 7;
    assert_eq!(
        facts[0]["resolved_at_unix"],
        json!(resolved_at.unix_timestamp())
    );
}

async fn hourly_buckets_and_today_follow_utc(log: TestLog) {
    let queue = "q-hours";
    create(
        &log,
        1,
        queue,
        Priority::Low,
        datetime!(2024-03-04 23:30 UTC),
    )
    .await;
    let early = create(
        &log,
        2,
        queue,
        Priority::Low,
        datetime!(2024-03-05 00:10 UTC),
    )
    .await;
    assign(&log, early, datetime!(2024-03-05 01:05 UTC)).await;
    set_status(
        &log,
        early,
        Status::Resolved,
        datetime!(2024-03-05 02:00 UTC),
    )
    .await;
    create(
        &log,
        3,
        queue,
        Priority::Low,
        datetime!(2024-03-05 23:10 UTC),
    )
    .await;
    create(
        &log,
        4,
        queue,
        Priority::Low,
        datetime!(2024-03-06 00:00 UTC),
    )
    .await;

    // 02:30 on the 6th in UTC+3 is 23:30 on the 5th in UTC: "today" is the 5th.
    let now = datetime!(2024-03-06 02:30 +03:00);
    let metrics = metrics_at(&log, queue, now, &SlaTargets::default()).await;
    assert_eq!((metrics.created_today, metrics.resolved_today), (2, 1));
    assert_eq!(metrics.computed_at.offset(), UtcOffset::UTC);
    assert_eq!(
        serde_json::to_value(&metrics).expect("serializes")["computed_at"],
        json!("2024-03-05T23:30:00Z")
    );

    // Half-open ranges, oldest first, hours without activity absent.
    let day = datetime!(2024-03-05 00:00 UTC);
    assert_eq!(
        buckets(&log, queue, day, day + 24 * HOUR).await,
        vec![
            bucket(day, 1, 0, 0),
            bucket(day + HOUR, 0, 1, 0),
            bucket(day + 2 * HOUR, 0, 0, 1),
            bucket(day + 23 * HOUR, 1, 0, 0),
        ]
    );
    let wider = buckets(&log, queue, day - HOUR, day + 25 * HOUR).await;
    assert_eq!(wider.len(), 6);
    assert_eq!(wider[0], bucket(day - HOUR, 1, 0, 0));
    assert_eq!(wider[5], bucket(day + 24 * HOUR, 1, 0, 0));
    assert!(
        buckets(&log, "q-other", day, day + 24 * HOUR)
            .await
            .is_empty()
    );
}

async fn medians_of_odd_and_even_counts(log: TestLog) {
    let queue = "q-median";
    // Assigned after 10 min, 1 min and 2 min: sorted 60, 120, 600.
    let mut tickets = Vec::new();
    for (n, delay) in [(1, 10), (2, 1), (3, 2)] {
        let ticket = create(&log, n, queue, Priority::Low, T).await;
        assign(&log, ticket, T + delay * MINUTE).await;
        tickets.push(ticket);
    }
    // Elsewhere, a faster one that must not count.
    let other = create(&log, 9, "q-elsewhere", Priority::Low, T).await;
    assign(&log, other, T + 5 * time::Duration::SECOND).await;
    let odd = metrics_at(&log, queue, T + 10 * HOUR, &SlaTargets::default()).await;
    assert_eq!(odd.first_assignment, stats(3, 260.0, 120.0));

    let fourth = create(&log, 4, queue, Priority::Low, T).await;
    assign(&log, fourth, T + 30 * MINUTE).await;
    let even = metrics_at(&log, queue, T + 10 * HOUR, &SlaTargets::default()).await;
    // 60, 120, 600, 1800: the median is the mean of 120 and 600.
    assert_eq!(even.first_assignment, stats(4, 645.0, 360.0));

    set_status(&log, tickets[0], Status::Resolved, T + 2 * HOUR).await;
    set_status(&log, tickets[1], Status::Resolved, T + HOUR).await;
    let two = metrics_at(&log, queue, T + 10 * HOUR, &SlaTargets::default()).await;
    assert_eq!(two.resolution, stats(2, 5400.0, 5400.0));
    set_status(
        &log,
        tickets[2],
        Status::Resolved,
        T + 100 * time::Duration::SECOND,
    )
    .await;
    let three = metrics_at(&log, queue, T + 10 * HOUR, &SlaTargets::default()).await;
    // 100, 3600, 7200.
    assert_eq!(three.resolution, stats(3, 10900.0 / 3.0, 3600.0));
}

/// A deterministic mix of every command over several queues and tickets, including moves,
/// reopens and edits, projected in batches of 3 after each round, then rebuilt in one go.
async fn small_batches_and_a_rebuild_give_the_same_tables(log: TestLog) {
    let queues = ["q-0", "q-1", "q-2"];
    let tickets: Vec<Uuid> = {
        let mut created = Vec::new();
        for n in 0..24u128 {
            let at = T + MINUTE * (7 * n as i32);
            created.push(
                create(
                    &log,
                    n + 1,
                    queues[n as usize % 3],
                    Priority::ALL[n as usize % 4],
                    at,
                )
                .await,
            );
        }
        created
    };
    let small_batches = Runner::new(
        log.store.clone(),
        Arc::new(QueueMetricsProjection),
        RunnerSettings {
            batch_size: 3,
            ..RunnerSettings::default()
        },
    );
    let mut random = 0x2545_f491_u64;
    let mut at = T + 3 * HOUR;
    for round in 0..12 {
        for ticket in &tickets {
            random = random
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            at += MINUTE * (random >> 58) as i32;
            let command = match (random >> 33) % 10 {
                0 | 1 => TicketCommand::Assign {
                    assignee_id: format!("agent-{}", random % 3),
                },
                2 => TicketCommand::Unassign,
                3 => TicketCommand::ChangeStatus {
                    status: Status::Resolved,
                },
                4 => TicketCommand::ChangeStatus {
                    status: Status::Closed,
                },
                5 => TicketCommand::ChangeStatus {
                    status: Status::Open,
                },
                6 => TicketCommand::ChangeStatus {
                    status: Status::InProgress,
                },
                7 => TicketCommand::ChangePriority {
                    priority: Priority::ALL[(random % 4) as usize],
                },
                8 => TicketCommand::Move {
                    queue_id: queues[(random % 3) as usize].into(),
                    team_id: "team-1".into(),
                },
                _ => TicketCommand::AddComment {
                    comment_id: Uuid::from_u64_pair(round, random),
                    author_id: "agent-1".into(),
                    body: "noted".into(),
                    internal: false,
                },
            };
            // The generator does not track state: commands the domain refuses (or that change
            // nothing) are simply not in the log.
            let _ = execute(&log.store, *ticket, command, &agent().at(at)).await;
        }
        small_batches
            .catch_up(|_, _| {})
            .await
            .expect("small batches apply");
    }

    let applied_in_small_batches = dump_all(&log).await;
    let parse = |rows: &[String]| -> Vec<Value> {
        rows.iter()
            .map(|row| serde_json::from_str(row).expect("json row"))
            .collect()
    };
    let facts = parse(&applied_in_small_batches[0]);
    assert_eq!(facts.len(), tickets.len());
    assert!(
        facts
            .iter()
            .any(|row| row["reopen_count"].as_i64() > Some(0)),
        "some reopen"
    );
    assert!(
        facts
            .iter()
            .any(|row| row["queue_id"] != json!(queues[row_number(row) % 3])),
        "some move"
    );
    assert_eq!(parse(&applied_in_small_batches[1]), durations_of(&facts));
    assert_eq!(parse(&applied_in_small_batches[2]), rolled_up(&facts));

    checkpoint::reset(log.database(), &QueueMetricsProjection)
        .await
        .expect("reset");
    assert!(dump_all(&log).await.iter().all(Vec::is_empty));
    project(&log.store, Arc::new(QueueMetricsProjection)).await;
    assert_eq!(dump_all(&log).await, applied_in_small_batches);
}

/// The projection's tables with the order to dump them in.
const TABLES: [(&str, &str); 3] = [
    ("queue_ticket_facts", "ticket_id"),
    ("queue_ticket_durations", "ticket_id, kind"),
    ("queue_hourly", "queue_id, hour_unix"),
];

async fn dump_all(log: &TestLog) -> Vec<Vec<String>> {
    let mut dumps = Vec::new();
    for (table, order_by) in TABLES {
        dumps.push(dump_table(log.database(), table, order_by).await);
    }
    dumps
}

/// `queue_ticket_durations` as it should be: what the facts say, in the facts' order.
fn durations_of(facts: &[Value]) -> Vec<Value> {
    let mut durations = Vec::new();
    for row in facts {
        let created = row["created_at_unix"].as_i64().expect("created");
        for (kind, end, sla_priority) in [
            (
                "first_assignment",
                &row["first_assigned_at_unix"],
                &row["first_assigned_priority"],
            ),
            ("resolution", &row["resolved_at_unix"], &Value::Null),
        ] {
            if let Some(end) = end.as_i64() {
                durations.push(json!({
                    "ticket_id": row["ticket_id"],
                    "kind": kind,
                    "queue_id": row["queue_id"],
                    "secs": end - created,
                    "sla_priority": sla_priority,
                }));
            }
        }
    }
    durations
}

/// Which of the generated tickets (numbered from 1) a facts row is, from 0.
fn row_number(row: &Value) -> usize {
    let id: Uuid = row["ticket_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("uuid");
    id.as_u128() as usize - 1
}

/// `queue_hourly` as it should be: the facts counted per queue and UTC hour.
fn rolled_up(facts: &[Value]) -> Vec<Value> {
    let mut hours = std::collections::BTreeMap::<(String, i64), [i64; 3]>::new();
    for row in facts {
        let queue = row["queue_id"].as_str().expect("queue").to_owned();
        for (index, column) in [
            "created_at_unix",
            "first_assigned_at_unix",
            "resolved_at_unix",
        ]
        .iter()
        .enumerate()
        {
            if let Some(at) = row[*column].as_i64() {
                hours
                    .entry((queue.clone(), at - at.rem_euclid(3600)))
                    .or_default()[index] += 1;
            }
        }
    }
    hours
        .into_iter()
        .map(
            |((queue_id, hour_unix), [created, first_assigned, resolved])| {
                json!({
                    "queue_id": queue_id,
                    "hour_unix": hour_unix,
                    "created": created,
                    "first_assigned": first_assigned,
                    "resolved": resolved,
                })
            },
        )
        .collect()
}

async fn dump_rows(log: &TestLog, table: &str, order_by: &str) -> Vec<Value> {
    dump_table(log.database(), table, order_by)
        .await
        .iter()
        .map(|row| serde_json::from_str(row).expect("json row"))
        .collect()
}

#[test]
fn default_targets_and_partial_configs() {
    let default = SlaTargets::default();
    assert_eq!(
        (
            default.urgent_secs,
            default.high_secs,
            default.medium_secs,
            default.low_secs
        ),
        (15 * 60, 3600, 4 * 3600, 24 * 3600)
    );
    let config: SlaTargets = serde_json::from_value(json!({"urgent_secs": 300})).expect("config");
    assert_eq!(
        config,
        SlaTargets {
            urgent_secs: 300,
            ..default
        }
    );
    assert_eq!(config.target_secs(Priority::Urgent), 300);
    assert_eq!(config.target_secs(Priority::Low), 24 * 3600);
}

#[test]
fn a_queue_is_pushed_at_once_then_at_most_once_a_second() {
    let start = Instant::now();
    let ms = |n: u64| start + Duration::from_millis(n);
    let mut coalescer = MetricsCoalescer::default();
    assert_eq!(coalescer.next_due(), None);

    coalescer.touch(["q-a".to_string()], start);
    assert_eq!(coalescer.next_due(), Some(start));
    assert_eq!(coalescer.due(start), vec!["q-a"]);
    assert!(coalescer.due(start).is_empty(), "pushed once");

    // Touched three times within the second: held, then pushed once when the second is over.
    for at in [100, 400, 999] {
        coalescer.touch(["q-a".to_string()], ms(at));
        assert!(coalescer.due(ms(at)).is_empty());
    }
    assert_eq!(coalescer.next_due(), Some(ms(1000)));
    assert_eq!(coalescer.due(ms(1000)), vec!["q-a"]);
    assert!(coalescer.due(ms(1500)).is_empty());
    assert_eq!(coalescer.next_due(), None);

    // Quiet for more than a second: the next touch is pushed at once.
    coalescer.touch(["q-a".to_string()], ms(2500));
    assert_eq!(coalescer.due(ms(2500)), vec!["q-a"]);
}

#[test]
fn queues_are_spaced_independently_and_never_dropped() {
    let start = Instant::now();
    let ms = |n: u64| start + Duration::from_millis(n);
    let mut coalescer = MetricsCoalescer::new(Duration::from_secs(1));
    coalescer.touch(["q-b".to_string(), "q-a".to_string()], start);
    assert_eq!(coalescer.due(start), vec!["q-a", "q-b"], "in name order");

    coalescer.touch(["q-a".to_string()], ms(200));
    coalescer.touch(["q-c".to_string()], ms(300));
    assert_eq!(
        coalescer.due(ms(300)),
        vec!["q-c"],
        "q-c was not pushed recently"
    );
    assert_eq!(coalescer.next_due(), Some(ms(1000)));
    // Nobody asked until much later: q-a is still there.
    assert_eq!(coalescer.due(ms(5000)), vec!["q-a"]);
    assert_eq!(coalescer.next_due(), None);
}
