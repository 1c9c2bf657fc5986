//! Shared by the notifications and room feed tests: a backend-pair test
//! macro, a small directory, and ticket commands run at chosen times.

#![allow(dead_code)] // Each test file uses its own part of this.

use std::sync::Arc;

use bomizzel_domain::{Priority, Status, TicketCommand};
use bomizzel_projections::testing::{Actor, TestLog, dump_table, execute};
use bomizzel_projections::{Projection, Runner, RunnerSettings, checkpoint};
use bomizzel_store::{Database, EventStore};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// When the scenarios start.
pub const T0: OffsetDateTime = datetime!(2024-05-01 12:00 UTC);

pub fn agent(id: &str) -> Actor {
    Actor::new(id, "agent").at(T0)
}

pub fn customer(id: &str) -> Actor {
    Actor::new(id, "customer").at(T0)
}

/// Adds `team_id` to the directory with `members` (agents).
pub async fn add_team(database: &Database, team_id: &str, members: &[&str]) {
    bomizzel_projections::on_pool!(database, pool => {
        sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $1, $2)")
            .bind(team_id)
            .bind(T0)
            .execute(pool)
            .await
            .expect("team inserts");
        for member in members {
            sqlx::query(
                "INSERT INTO users (id, name, role, created_at) VALUES ($1, $1, 'agent', $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(member)
            .bind(T0)
            .execute(pool)
            .await
            .expect("user inserts");
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                .bind(team_id)
                .bind(member)
                .execute(pool)
                .await
                .expect("membership inserts");
        }
    });
}

/// Runs `command` on `ticket` as `actor`; panics if it fails or changes
/// nothing.
pub async fn run(log: &TestLog, ticket: Uuid, command: TicketCommand, actor: &Actor) {
    execute(&log.store, ticket, command, actor)
        .await
        .expect("command succeeds")
        .expect("command changes the ticket");
}

/// Opens a ticket of company `c1` in queue `q1` of team `t1`, asked by
/// `requester`, as `actor`.
pub async fn open_ticket(log: &TestLog, requester: &str, actor: &Actor) -> Uuid {
    let id = Uuid::now_v7();
    run(
        log,
        id,
        TicketCommand::Create {
            id,
            number: log
                .store
                .next_ticket_number()
                .await
                .expect("a ticket number"),
            title: "Printer on fire".into(),
            description: "Smoke everywhere".into(),
            company_id: "c1".into(),
            requester_id: requester.into(),
            queue_id: "q1".into(),
            team_id: "t1".into(),
            priority: Priority::Medium,
            tags: vec!["hardware".into()],
        },
        actor,
    )
    .await;
    id
}

/// A mixed history: every event kind, internal and public comments,
/// reassignment, a move and back.
pub async fn mixed_history(log: &TestLog, tickets: usize) {
    for n in 0..tickets {
        let requester = format!("cust-{}", n % 3);
        let ticket = open_ticket(log, &requester, &customer(&requester)).await;
        let lead = agent("agent-1");
        let steps = [
            TicketCommand::Assign {
                assignee_id: "agent-2".into(),
            },
            TicketCommand::ChangeStatus {
                status: Status::InProgress,
            },
            TicketCommand::AddComment {
                comment_id: Uuid::now_v7(),
                author_id: "agent-1".into(),
                body: "checking".into(),
                internal: n % 2 == 0,
            },
            TicketCommand::ChangePriority {
                priority: Priority::Urgent,
            },
            TicketCommand::Update {
                title: Some(format!("Printer {n} on fire")),
                description: None,
                tags: Some(vec!["hardware".into(), "urgent".into()]),
            },
            TicketCommand::Move {
                queue_id: "q2".into(),
                team_id: "t2".into(),
            },
            TicketCommand::Assign {
                assignee_id: "agent-3".into(),
            },
            TicketCommand::Unassign,
            TicketCommand::ChangeStatus {
                status: Status::Resolved,
            },
        ];
        for step in steps {
            run(log, ticket, step, &lead).await;
        }
    }
}

/// Runs `projection` to the head in batches of `batch_size` events.
pub async fn project_in_batches(
    store: &EventStore,
    projection: Arc<dyn Projection>,
    batch_size: u32,
) -> i64 {
    let settings = RunnerSettings {
        batch_size,
        ..RunnerSettings::default()
    };
    Runner::new(store.clone(), projection, settings)
        .catch_up(|_, _| {})
        .await
        .expect("projection catches up")
}

/// Empties `projection`'s tables and projects everything again in one
/// large batch.
pub async fn rebuild(store: &EventStore, projection: Arc<dyn Projection>) {
    checkpoint::reset(store.database(), projection.as_ref())
        .await
        .expect("projection resets");
    project_in_batches(store, projection, 10_000).await;
}

/// Dumps of `tables` (name, order) for comparing a read model with itself.
pub async fn dump(database: &Database, tables: &[(&str, &str)]) -> Vec<Vec<String>> {
    let mut dumps = Vec::new();
    for (table, order) in tables {
        dumps.push(dump_table(database, table, order).await);
    }
    dumps
}
