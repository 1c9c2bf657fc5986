//! The tickets read model and its queries, on SQLite and, when there is a server
//! (`bomizzel_store::testing`), PostgreSQL. Each test drives tickets through domain commands the way the API does,
//! projects, and checks rows and query answers.

use bomizzel_projections::on_both_backends;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bomizzel_domain::{Priority, Status, TicketCommand, TicketEvent};
use bomizzel_projections::search::{RANKED_CANDIDATES, SearchProjection};
use bomizzel_projections::testing::{Actor, TestLog, append, dump_table, execute, project};
use bomizzel_projections::tickets::Search;
use bomizzel_projections::tickets::{
    self, AssigneeFilter, CursorError, Direction, DueTimes, ListError, Page, Sort, SortField,
    TicketFilter, TicketPage, TicketRow, TicketsProjection, Visibility,
};
use bomizzel_projections::{ProjectionError, Runner, RunnerSettings, checkpoint};
use bomizzel_store::{AppendRequest, Database, ExpectedVersion, Metadata, NewEvent};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

on_both_backends!(
    every_event_kind_updates_the_row,
    comments_are_listed_in_order_and_customers_see_only_public_ones,
    every_filter_selects_exactly_the_matching_tickets,
    each_sort_orders_the_tickets_and_pages_follow_it,
    paging_by_creation_sees_each_ticket_once_while_others_write,
    bad_cursors_and_limits_are_refused,
    small_live_batches_give_the_same_rows_as_a_rebuild,
    a_batch_larger_than_one_statement_is_written_whole,
    an_event_for_a_ticket_never_created_stops_the_projection,
    tickets_opened_before_numbers_are_numbered_by_their_position,
    relevance_ranks_the_newest_matches_that_pass_the_filters,
    relevance_pages_the_same_when_matches_span_several_windows,
    relevance_from_a_first_window_is_the_newest_matches,
);

/// A ticket to open; [`BASE`] fills what a test does not care about.
#[derive(Clone, Copy)]
struct NewTicket {
    title: &'static str,
    company: &'static str,
    requester: &'static str,
    queue: &'static str,
    team: &'static str,
    priority: Priority,
    tags: &'static [&'static str],
}

const BASE: NewTicket = NewTicket {
    title: "Printer on fire",
    company: "acme",
    requester: "cust-1",
    queue: "q-support",
    team: "t-support",
    priority: Priority::Medium,
    tags: &[],
};

/// More rows than any test creates: a page walk that goes beyond repeats itself.
const WALK_BOUND: usize = 100;

/// A log with a clock: every command happens one minute after the previous one.
struct Desk {
    log: TestLog,
    minutes: AtomicI64,
}

/// What a command appended.
#[derive(Debug, Clone, Copy)]
struct Step {
    position: i64,
    at: OffsetDateTime,
}

impl Desk {
    fn new(log: TestLog) -> Self {
        Self {
            log,
            minutes: AtomicI64::new(0),
        }
    }

    fn database(&self) -> &bomizzel_store::Database {
        self.log.database()
    }

    async fn open(&self, ticket: NewTicket) -> Uuid {
        let id = Uuid::now_v7();
        self.run(
            id,
            TicketCommand::Create {
                id,
                number: self
                    .log
                    .store
                    .next_ticket_number()
                    .await
                    .expect("a ticket number"),
                title: ticket.title.into(),
                description: format!("About: {}", ticket.title),
                company_id: ticket.company.into(),
                requester_id: ticket.requester.into(),
                queue_id: ticket.queue.into(),
                team_id: ticket.team.into(),
                priority: ticket.priority,
                tags: ticket.tags.iter().map(|tag| tag.to_string()).collect(),
            },
        )
        .await;
        id
    }

    /// Runs a command that must append an event.
    async fn run(&self, id: Uuid, command: TicketCommand) -> Step {
        let at = datetime!(2026-03-02 08:00 UTC)
            + time::Duration::minutes(self.minutes.fetch_add(1, Ordering::SeqCst));
        let actor = Actor::new("agent-1", "agent").at(at);
        let (_, appended) = execute(&self.log.store, id, command.clone(), &actor)
            .await
            .unwrap_or_else(|error| panic!("{command:?} fails: {error}"))
            .unwrap_or_else(|| panic!("{command:?} changes nothing"));
        Step {
            position: appended.last_position,
            at,
        }
    }

    async fn project(&self) {
        project(&self.log.store, Arc::new(TicketsProjection)).await;
    }

    /// A runner applying at most `batch_size` events per batch.
    fn runner(&self, batch_size: u32) -> Runner {
        Runner::new(
            self.log.store.clone(),
            Arc::new(TicketsProjection),
            RunnerSettings {
                batch_size,
                ..RunnerSettings::default()
            },
        )
    }

    async fn row(&self, id: Uuid) -> TicketRow {
        tickets::query::get(self.database(), id)
            .await
            .expect("get answers")
            .expect("the ticket is in the read model")
    }

    async fn list(&self, filter: &TicketFilter, page: &Page) -> TicketPage {
        tickets::query::list(
            self.database(),
            filter,
            page,
            &DueTimes::default(),
            OffsetDateTime::now_utc(),
        )
        .await
        .expect("list answers")
    }

    /// Titles of every ticket matching `filter`, sorted.
    async fn titles(&self, filter: &TicketFilter) -> BTreeSet<String> {
        let page = self
            .list(filter, &Page::default().with_limit(tickets::MAX_LIMIT))
            .await;
        assert_eq!(page.next_cursor, None, "one page holds them all");
        page.items.into_iter().map(|row| row.ticket.title).collect()
    }

    /// Ids of every ticket in `sort` order, walking pages of `limit` rows.
    async fn walk(&self, sort: Sort, limit: u32) -> Vec<Uuid> {
        let mut page = Page::first(sort).with_limit(limit);
        let mut ids = Vec::new();
        loop {
            let answer = self.list(&TicketFilter::default(), &page).await;
            assert!(answer.items.len() <= limit as usize);
            ids.extend(answer.items.iter().map(|row| row.ticket.id));
            assert!(ids.len() <= WALK_BOUND, "the walk does not end: {ids:?}");
            match answer.next_cursor {
                Some(cursor) => page = page.after(cursor),
                None => return ids,
            }
        }
    }

    async fn dump(&self) -> Vec<Vec<String>> {
        let database = self.database();
        vec![
            dump_table(database, "tickets", "id").await,
            dump_table(database, "ticket_tags", "ticket_id, tag").await,
            dump_table(database, "ticket_comments", "position").await,
        ]
    }
}

/// What a row must look like after a step.
type Check = Box<dyn Fn(&TicketRow, Step)>;

fn status(status: Status) -> TicketCommand {
    TicketCommand::ChangeStatus { status }
}

fn assign(user: &str) -> TicketCommand {
    TicketCommand::Assign {
        assignee_id: user.into(),
    }
}

fn retitle(title: &str) -> TicketCommand {
    TicketCommand::Update {
        title: Some(title.into()),
        description: None,
        tags: None,
    }
}

fn retag(tags: &[&str]) -> TicketCommand {
    TicketCommand::Update {
        title: None,
        description: None,
        tags: Some(tags.iter().map(|tag| tag.to_string()).collect()),
    }
}

fn comment(body: &str, internal: bool) -> TicketCommand {
    TicketCommand::AddComment {
        comment_id: Uuid::now_v7(),
        author_id: "agent-1".into(),
        body: body.into(),
        internal,
    }
}

fn set<const N: usize>(titles: [&str; N]) -> BTreeSet<String> {
    titles.into_iter().map(String::from).collect()
}

async fn every_event_kind_updates_the_row(log: TestLog) {
    let desk = Desk::new(log);
    let id = desk
        .open(NewTicket {
            priority: Priority::High,
            tags: &["billing", "vip"],
            ..BASE
        })
        .await;
    desk.project().await;
    let created = desk.row(id).await;
    let opened_at = datetime!(2026-03-02 08:00 UTC);
    assert_eq!(
        created,
        TicketRow {
            id,
            number: 1,
            title: "Printer on fire".into(),
            description: "About: Printer on fire".into(),
            company_id: "acme".into(),
            requester_id: "cust-1".into(),
            queue_id: "q-support".into(),
            team_id: "t-support".into(),
            assignee_id: None,
            status: Status::Open,
            priority: Priority::High,
            tags: vec!["billing".into(), "vip".into()],
            public_comment_count: 0,
            internal_comment_count: 0,
            version: 1,
            customer_version: 1,
            created_position: created.created_position,
            updated_position: created.created_position,
            created_at: opened_at,
            updated_at: opened_at,
            first_assigned_at: None,
            first_assigned_rank: None,
            resolved_at: None,
            closed_at: None,
        }
    );
    assert!(created.created_position >= 1);

    // Each command, projected on its own, then the row as it must be.
    let checks: Vec<(TicketCommand, Check)> = vec![
        (
            assign("agent-7"),
            Box::new(|row, step| {
                assert_eq!(row.assignee_id.as_deref(), Some("agent-7"));
                assert_eq!(row.first_assigned_at, Some(step.at));
                assert_eq!(row.first_assigned_rank, Some(3), "high when first assigned");
            }),
        ),
        (
            assign("agent-8"),
            Box::new(|row, step| {
                assert_eq!(row.assignee_id.as_deref(), Some("agent-8"));
                assert!(
                    row.first_assigned_at < Some(step.at),
                    "the first assignment stays"
                );
            }),
        ),
        (
            TicketCommand::Unassign,
            Box::new(|row, _| {
                assert_eq!(row.assignee_id, None);
                assert!(row.first_assigned_at.is_some());
            }),
        ),
        (
            status(Status::InProgress),
            Box::new(|row, _| assert_eq!(row.status, Status::InProgress)),
        ),
        (
            status(Status::Resolved),
            Box::new(|row, step| {
                assert_eq!(row.status, Status::Resolved);
                assert_eq!(row.resolved_at, Some(step.at));
                assert_eq!(row.closed_at, None);
            }),
        ),
        (
            status(Status::Open),
            Box::new(|row, _| {
                assert_eq!(row.status, Status::Open);
                assert_eq!(row.resolved_at, None, "reopening clears the resolution");
            }),
        ),
        (
            status(Status::Resolved),
            Box::new(|row, step| assert_eq!(row.resolved_at, Some(step.at))),
        ),
        (
            status(Status::Closed),
            Box::new(|row, step| {
                assert_eq!(row.status, Status::Closed);
                assert_eq!(row.closed_at, Some(step.at));
                assert!(
                    row.resolved_at < Some(step.at),
                    "closing keeps the resolution"
                );
            }),
        ),
        (
            status(Status::Open),
            Box::new(|row, _| {
                assert_eq!(row.status, Status::Open);
                assert_eq!((row.resolved_at, row.closed_at), (None, None));
            }),
        ),
        (
            TicketCommand::ChangePriority {
                priority: Priority::Urgent,
            },
            Box::new(|row, _| assert_eq!(row.priority, Priority::Urgent)),
        ),
        (
            TicketCommand::Update {
                title: Some("Printer fixed?".into()),
                description: Some("Smoke is gone".into()),
                tags: None,
            },
            Box::new(|row, _| {
                assert_eq!(row.title, "Printer fixed?");
                assert_eq!(row.description, "Smoke is gone");
                assert_eq!(row.tags, ["billing", "vip"]);
            }),
        ),
        (
            retag(&["Hardware", "billing"]),
            Box::new(|row, _| {
                assert_eq!(row.title, "Printer fixed?");
                assert_eq!(row.tags, ["hardware", "billing"]);
            }),
        ),
        (
            comment("We are on it", false),
            Box::new(|row, _| {
                assert_eq!(
                    (row.public_comment_count, row.internal_comment_count),
                    (1, 0)
                );
            }),
        ),
        (
            comment("Customer is grumpy", true),
            Box::new(|row, _| {
                assert_eq!(
                    (row.public_comment_count, row.internal_comment_count),
                    (1, 1)
                );
            }),
        ),
        (assign("agent-7"), Box::new(|_, _| {})),
        (
            TicketCommand::Move {
                queue_id: "q-hardware".into(),
                team_id: "t-hardware".into(),
            },
            Box::new(|row, _| {
                assert_eq!(
                    (row.queue_id.as_str(), row.team_id.as_str()),
                    ("q-hardware", "t-hardware")
                );
                assert_eq!(
                    row.assignee_id.as_deref(),
                    Some("agent-7"),
                    "moves keep the assignee"
                );
            }),
        ),
    ];
    for (number, (command, check)) in checks.into_iter().enumerate() {
        let step = desk.run(id, command.clone()).await;
        desk.project().await;
        let row = desk.row(id).await;
        check(&row, step);
        // What every event records.
        assert_eq!(row.version, number as i64 + 2, "{command:?}");
        assert_eq!(row.updated_position, step.position, "{command:?}");
        assert_eq!(row.updated_at, step.at, "{command:?}");
        assert_eq!(
            (row.created_position, row.created_at),
            (created.created_position, opened_at),
            "{command:?}"
        );
        assert_eq!(
            (row.company_id.as_str(), row.requester_id.as_str()),
            ("acme", "cust-1")
        );
    }

    // Customers are not shown the tags-only edit, the internal comment and
    // the move: their version counts the other 14 of the 17 events.
    assert_eq!(
        (
            desk.row(id).await.version,
            desk.row(id).await.customer_version
        ),
        (17, 14)
    );

    // The tag table follows the tags: the old tag no longer finds the ticket.
    let tag = |tag: &str| TicketFilter {
        tag: Some(tag.into()),
        ..TicketFilter::default()
    };
    assert_eq!(desk.titles(&tag("hardware")).await, set(["Printer fixed?"]));
    assert_eq!(desk.titles(&tag("vip")).await, set([]));

    // The JSON the API returns.
    let json = serde_json::to_value(desk.row(id).await).expect("a row serializes");
    assert_eq!(json["status"], "open");
    assert_eq!(json["priority"], "urgent");
    assert_eq!(json["tags"], serde_json::json!(["hardware", "billing"]));
    assert_eq!(json["created_at"], "2026-03-02T08:00:00Z");
    assert_eq!(json["resolved_at"], serde_json::Value::Null);
    assert_eq!(json["id"], id.to_string());
}

async fn comments_are_listed_in_order_and_customers_see_only_public_ones(log: TestLog) {
    let desk = Desk::new(log);
    let id = desk.open(BASE).await;
    let other = desk.open(BASE).await;
    let first = desk.run(id, comment("Hello", false)).await;
    let second = desk
        .run(id, comment("Looks like a toner issue", true))
        .await;
    desk.run(other, comment("Elsewhere", false)).await;
    let third = desk.run(id, comment("Fixed", false)).await;
    desk.project().await;

    let agent_view = tickets::query::comments(desk.database(), id, true)
        .await
        .expect("comments answer");
    let seen: Vec<(&str, bool, i64, OffsetDateTime)> = agent_view
        .iter()
        .map(|c| (c.body.as_str(), c.internal, c.position, c.created_at))
        .collect();
    assert_eq!(
        seen,
        [
            ("Hello", false, first.position, first.at),
            ("Looks like a toner issue", true, second.position, second.at),
            ("Fixed", false, third.position, third.at),
        ]
    );
    assert!(
        agent_view
            .iter()
            .all(|c| c.ticket_id == id && c.author_id == "agent-1")
    );

    let customer_view = tickets::query::comments(desk.database(), id, false)
        .await
        .expect("comments answer");
    let bodies: Vec<&str> = customer_view.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["Hello", "Fixed"]);

    let json = serde_json::to_value(&customer_view[0]).expect("a comment serializes");
    assert_eq!(json["created_at"], "2026-03-02T08:02:00Z");
    assert_eq!(json["internal"], false);
    assert!(
        tickets::query::comments(desk.database(), Uuid::now_v7(), true)
            .await
            .expect("comments answer")
            .is_empty()
    );
}

async fn every_filter_selects_exactly_the_matching_tickets(log: TestLog) {
    let desk = Desk::new(log);
    let printer = desk
        .open(NewTicket {
            title: "Printer on fire",
            tags: &["hardware", "urgent-fix"],
            priority: Priority::Urgent,
            ..BASE
        })
        .await;
    let invoice = desk
        .open(NewTicket {
            title: "Invoice 100% wrong",
            company: "globex",
            requester: "cust-9",
            queue: "q-billing",
            team: "t-billing",
            tags: &["billing"],
            ..BASE
        })
        .await;
    let snake = desk
        .open(NewTicket {
            title: "snake_case in the PRINTER name",
            requester: "cust-2",
            priority: Priority::Low,
            ..BASE
        })
        .await;
    let eclair = desk
        .open(NewTicket {
            title: "ÉCLAIR menu missing",
            company: "globex",
            queue: "q-billing",
            team: "t-billing",
            priority: Priority::High,
            tags: &["billing", "menu"],
            ..BASE
        })
        .await;
    let backslash = desk
        .open(NewTicket {
            title: r"Path C:\temp broken",
            company: "initech",
            requester: "cust-3",
            queue: "q-ops",
            team: "t-ops",
            ..BASE
        })
        .await;
    desk.run(printer, assign("agent-7")).await;
    desk.run(eclair, assign("agent-7")).await;
    desk.run(backslash, assign("agent-8")).await;
    desk.run(printer, status(Status::InProgress)).await;
    desk.run(invoice, status(Status::Waiting)).await;
    desk.run(backslash, status(Status::Closed)).await;
    desk.run(snake, retag(&["printer"])).await;
    desk.project().await;

    let all = set([
        "Printer on fire",
        "Invoice 100% wrong",
        "snake_case in the PRINTER name",
        "ÉCLAIR menu missing",
        r"Path C:\temp broken",
    ]);
    let cases: Vec<(&str, TicketFilter, BTreeSet<String>)> = vec![
        ("nothing", TicketFilter::default(), all.clone()),
        (
            "one status",
            TicketFilter {
                statuses: vec![Status::Open],
                ..TicketFilter::default()
            },
            set(["snake_case in the PRINTER name", "ÉCLAIR menu missing"]),
        ),
        (
            "several statuses",
            TicketFilter {
                statuses: vec![Status::InProgress, Status::Closed],
                ..TicketFilter::default()
            },
            set(["Printer on fire", r"Path C:\temp broken"]),
        ),
        (
            "priorities",
            TicketFilter {
                priorities: vec![Priority::Urgent, Priority::Low],
                ..TicketFilter::default()
            },
            set(["Printer on fire", "snake_case in the PRINTER name"]),
        ),
        (
            "queue",
            TicketFilter {
                queue_id: Some("q-billing".into()),
                ..TicketFilter::default()
            },
            set(["Invoice 100% wrong", "ÉCLAIR menu missing"]),
        ),
        (
            "team",
            TicketFilter {
                team_id: Some("t-ops".into()),
                ..TicketFilter::default()
            },
            set([r"Path C:\temp broken"]),
        ),
        (
            "assignee",
            TicketFilter {
                assignee: Some(AssigneeFilter::User("agent-7".into())),
                ..TicketFilter::default()
            },
            set(["Printer on fire", "ÉCLAIR menu missing"]),
        ),
        (
            "unassigned",
            TicketFilter {
                assignee: Some(AssigneeFilter::Unassigned),
                ..TicketFilter::default()
            },
            set(["Invoice 100% wrong", "snake_case in the PRINTER name"]),
        ),
        (
            "company",
            TicketFilter {
                company_id: Some("globex".into()),
                ..TicketFilter::default()
            },
            set(["Invoice 100% wrong", "ÉCLAIR menu missing"]),
        ),
        (
            "requester",
            TicketFilter {
                requester_id: Some("cust-1".into()),
                ..TicketFilter::default()
            },
            set(["Printer on fire", "ÉCLAIR menu missing"]),
        ),
        (
            "tag",
            TicketFilter {
                tag: Some("billing".into()),
                ..TicketFilter::default()
            },
            set(["Invoice 100% wrong", "ÉCLAIR menu missing"]),
        ),
        (
            "tag, normalized like the domain's",
            TicketFilter {
                tag: Some(" Printer ".into()),
                ..TicketFilter::default()
            },
            set(["snake_case in the PRINTER name"]),
        ),
        (
            "q, any case",
            TicketFilter {
                q: Some("pRiNtEr".into()),
                ..TicketFilter::default()
            },
            set(["Printer on fire", "snake_case in the PRINTER name"]),
        ),
        (
            "q, beyond ASCII",
            TicketFilter {
                q: Some("éclair".into()),
                ..TicketFilter::default()
            },
            set(["ÉCLAIR menu missing"]),
        ),
        (
            "q, % is literal",
            TicketFilter {
                q: Some("0%".into()),
                ..TicketFilter::default()
            },
            set(["Invoice 100% wrong"]),
        ),
        (
            "q, _ is literal",
            TicketFilter {
                q: Some("e_c".into()),
                ..TicketFilter::default()
            },
            set(["snake_case in the PRINTER name"]),
        ),
        (
            "q, backslash is literal",
            TicketFilter {
                q: Some(r":\t".into()),
                ..TicketFilter::default()
            },
            set([r"Path C:\temp broken"]),
        ),
        (
            "customer visibility",
            TicketFilter::visible_to(Visibility::Company("globex".into())),
            set(["Invoice 100% wrong", "ÉCLAIR menu missing"]),
        ),
        (
            "agent visibility",
            TicketFilter::visible_to(Visibility::Teams(vec!["t-billing".into(), "t-ops".into()])),
            set([
                "Invoice 100% wrong",
                "ÉCLAIR menu missing",
                r"Path C:\temp broken",
            ]),
        ),
        (
            "an agent in no team",
            TicketFilter::visible_to(Visibility::Teams(vec![])),
            set([]),
        ),
        (
            "filters and visibility together",
            TicketFilter {
                tag: Some("billing".into()),
                assignee: Some(AssigneeFilter::User("agent-7".into())),
                ..TicketFilter::visible_to(Visibility::Teams(vec!["t-billing".into()]))
            },
            set(["ÉCLAIR menu missing"]),
        ),
        (
            "a filter outside the visibility",
            TicketFilter {
                company_id: Some("acme".into()),
                ..TicketFilter::visible_to(Visibility::Company("globex".into()))
            },
            set([]),
        ),
    ];
    for (case, filter, expected) in cases {
        assert_eq!(desk.titles(&filter).await, expected, "{case}");
    }
}

async fn each_sort_orders_the_tickets_and_pages_follow_it(log: TestLog) {
    let desk = Desk::new(log);
    let priorities = [
        Priority::Medium,
        Priority::Urgent,
        Priority::Low,
        Priority::Medium,
        Priority::Urgent,
        Priority::Medium,
    ];
    let mut created = Vec::new();
    for priority in priorities {
        created.push(desk.open(NewTicket { priority, ..BASE }).await);
    }
    // Updates in another order than creation: 4, 1, 5 last.
    for index in [4, 1, 5] {
        desk.run(created[index], comment("bump", false)).await;
    }
    desk.project().await;

    let reversed = |ids: &[Uuid]| ids.iter().rev().copied().collect::<Vec<_>>();
    let updated = vec![
        created[0], created[2], created[3], created[4], created[1], created[5],
    ];
    // Priority ties follow creation, in the sort's direction.
    let by_priority = vec![
        created[2], created[0], created[3], created[5], created[1], created[4],
    ];
    let cases = [
        (SortField::Created, created.clone()),
        (SortField::Updated, updated),
        (SortField::Priority, by_priority),
    ];
    for (field, ascending) in cases {
        for (direction, expected) in [
            (Direction::Asc, ascending.clone()),
            (Direction::Desc, reversed(&ascending)),
        ] {
            let sort = Sort::new(field, direction);
            for limit in [1, 2, 4, 200] {
                assert_eq!(
                    desk.walk(sort, limit).await,
                    expected,
                    "{sort}, limit {limit}"
                );
            }
        }
    }
    assert_eq!(
        desk.walk(Sort::default(), 3).await,
        reversed(&created),
        "newest first by default"
    );
}

async fn paging_by_creation_sees_each_ticket_once_while_others_write(log: TestLog) {
    let desk = Desk::new(log);
    let mut existing = Vec::new();
    for _ in 0..12 {
        existing.push(desk.open(BASE).await);
    }
    desk.project().await;

    for direction in [Direction::Asc, Direction::Desc] {
        let before: Vec<Uuid> = existing.clone();
        let mut page = Page::first(Sort::new(SortField::Created, direction)).with_limit(3);
        let mut seen = Vec::new();
        let mut round = 0;
        loop {
            let answer = desk.list(&TicketFilter::default(), &page).await;
            seen.extend(answer.items.iter().map(|row| row.ticket.id));
            assert!(seen.len() <= WALK_BOUND, "the walk does not end: {seen:?}");
            let Some(cursor) = answer.next_cursor else {
                break;
            };
            page = page.after(cursor);
            // Between fetches: new tickets, and edits to tickets seen and not yet seen.
            round += 1;
            if round <= 4 {
                existing.push(desk.open(BASE).await);
                let not_yet_seen = before.iter().find(|id| !seen.contains(id)).copied();
                for id in not_yet_seen.into_iter().chain(seen.first().copied()) {
                    desk.run(id, retitle(&format!("Edited in round {round}")))
                        .await;
                    desk.run(id, comment("still here", false)).await;
                }
                desk.project().await;
            }
        }
        let mut counts: HashMap<Uuid, usize> = HashMap::new();
        for id in &seen {
            *counts.entry(*id).or_default() += 1;
        }
        assert!(
            counts.values().all(|&count| count == 1),
            "{direction:?}: a ticket repeated"
        );
        for id in &before {
            assert!(
                counts.contains_key(id),
                "{direction:?}: a ticket was skipped"
            );
        }
        if direction == Direction::Asc {
            // Tickets created meanwhile come after the cursor, so an ascending walk reaches them.
            assert_eq!(
                seen, existing,
                "ascending walk sees everything in creation order"
            );
        } else {
            assert_eq!(seen, before.iter().rev().copied().collect::<Vec<_>>());
        }
    }
}

async fn bad_cursors_and_limits_are_refused(log: TestLog) {
    let desk = Desk::new(log);
    for _ in 0..3 {
        desk.open(BASE).await;
    }
    desk.project().await;
    let database = desk.database();
    let list = |page: Page| async move {
        tickets::query::list(
            database,
            &TicketFilter::default(),
            &page,
            &DueTimes::default(),
            OffsetDateTime::now_utc(),
        )
        .await
    };

    for bad in ["", "not a cursor", "7431", "zz", "ééé"] {
        let refused = list(Page::default().after(bad)).await;
        assert!(
            matches!(refused, Err(ListError::Cursor(CursorError::Malformed))),
            "{bad:?}: {refused:?}"
        );
    }

    let by_priority = Sort::new(SortField::Priority, Direction::Asc);
    let first = list(Page::first(by_priority).with_limit(1))
        .await
        .expect("a page");
    let cursor = first.next_cursor.expect("more pages");
    let refused = list(Page::first(Sort::default()).after(cursor.clone())).await;
    assert!(
        matches!(
            refused,
            Err(ListError::Cursor(CursorError::OtherSort { issued, requested }))
                if issued == by_priority && requested == Sort::default()
        ),
        "{refused:?}"
    );
    let continued = list(Page::first(by_priority).after(cursor))
        .await
        .expect("a page");
    assert_eq!(continued.items.len(), 2);

    for limit in [0, tickets::MAX_LIMIT + 1] {
        let refused = list(Page::default().with_limit(limit)).await;
        assert!(
            matches!(refused, Err(ListError::Limit(got)) if got == limit),
            "{refused:?}"
        );
    }
    assert_eq!(Page::default().limit, tickets::DEFAULT_LIMIT);
}

async fn small_live_batches_give_the_same_rows_as_a_rebuild(log: TestLog) {
    let desk = Desk::new(log);
    let small_batches = desk.runner(3);
    let teams = ["t-a", "t-b", "t-c"];
    let mut ids = Vec::new();
    for round in 0..6usize {
        ids.push(
            desk.open(NewTicket {
                team: teams[round % 3],
                tags: &["new"],
                ..BASE
            })
            .await,
        );
        // Every kind of event, spread over the tickets so that batches mix them.
        for (index, &id) in ids.iter().enumerate() {
            let command = match (round + index) % 8 {
                0 => assign(&format!("agent-{index}")),
                1 => comment(&format!("note {round}"), index % 2 == 0),
                2 => TicketCommand::ChangePriority {
                    priority: Priority::ALL[(round + index) % 4],
                },
                3 => retag(&["round", teams[round % 3]]),
                4 => TicketCommand::Move {
                    queue_id: format!("q-{round}"),
                    team_id: teams[(round + 1) % 3].into(),
                },
                5 => status(Status::Resolved),
                6 => status(Status::Open),
                _ => retitle(&format!("Title {round}.{index}")),
            };
            // Some commands change nothing (already resolved, same priority): that is fine.
            let actor = Actor::new("agent-1", "agent").at(datetime!(2026-03-02 08:00 UTC));
            execute(&desk.log.store, id, command, &actor)
                .await
                .expect("the command is valid");
        }
        if round % 2 == 1 {
            small_batches.catch_up(|_, _| {}).await.expect("catches up");
        }
    }
    small_batches.catch_up(|_, _| {}).await.expect("catches up");
    let live = desk.dump().await;
    assert!(
        live.iter().all(|rows| !rows.is_empty()),
        "every table has rows"
    );

    checkpoint::reset(desk.database(), &TicketsProjection)
        .await
        .expect("reset");
    assert!(
        desk.dump().await.iter().all(Vec::is_empty),
        "reset empties the tables"
    );
    desk.project().await;
    assert_eq!(desk.dump().await, live);
}

async fn a_batch_larger_than_one_statement_is_written_whole(log: TestLog) {
    // More tickets than one upsert statement holds (128 rows), in one batch.
    const TICKETS: usize = 300;
    let desk = Desk::new(log);
    let mut ids = Vec::new();
    for _ in 0..TICKETS {
        let id = desk
            .open(NewTicket {
                tags: &["bulk"],
                ..BASE
            })
            .await;
        desk.run(id, comment("first", false)).await;
        desk.run(id, retag(&["bulk", "more"])).await;
        ids.push(id);
    }
    let one_batch = desk.runner(3 * TICKETS as u32);
    one_batch.catch_up(|_, _| {}).await.expect("catches up");
    let all_at_once = desk.dump().await;
    assert_eq!(all_at_once[0].len(), TICKETS);
    assert_eq!(all_at_once[1].len(), 2 * TICKETS);
    assert_eq!(all_at_once[2].len(), TICKETS);
    let tagged = TicketFilter {
        tag: Some("more".into()),
        ..TicketFilter::default()
    };
    let page = desk
        .list(&tagged, &Page::default().with_limit(tickets::MAX_LIMIT))
        .await;
    assert_eq!(page.items.len(), tickets::MAX_LIMIT as usize);
    assert!(
        page.items
            .iter()
            .all(|row| row.ticket.public_comment_count == 1)
    );
    assert!(page.next_cursor.is_some());

    checkpoint::reset(desk.database(), &TicketsProjection)
        .await
        .expect("reset");
    desk.runner(7)
        .catch_up(|_, _| {})
        .await
        .expect("catches up");
    assert_eq!(desk.dump().await, all_at_once);
}

async fn an_event_for_a_ticket_never_created_stops_the_projection(log: TestLog) {
    let desk = Desk::new(log);
    desk.open(BASE).await;
    let ghost = Uuid::now_v7();
    let orphan = TicketEvent::TicketUnassigned {
        ticket_id: ghost,
        previous_assignee_id: "agent-1".into(),
        company_id: "acme".into(),
        requester_id: "cust-1".into(),
        queue_id: "q-support".into(),
        team_id: "t-support".into(),
    };
    let appended = append(
        &desk.log.store,
        &orphan,
        ExpectedVersion::Any,
        &Actor::new("agent-1", "agent"),
    )
    .await
    .expect("appends");
    let runner = desk.runner(1);
    let error = runner
        .catch_up(|_, _| {})
        .await
        .expect_err("the projection stops");
    assert!(
        matches!(error, ProjectionError::Rejected { position, .. } if position == appended.last_position),
        "{error}"
    );
    let stored = checkpoint::load(desk.database(), "tickets")
        .await
        .expect("checkpoint");
    assert_eq!(stored.state, bomizzel_projections::State::Failed);
    assert_eq!(
        stored.position,
        appended.last_position - 1,
        "the ticket before it was applied"
    );
}

/// A `TicketCreated` of schema version 2 (written before numbers existed)
/// gets the position of its event as its number, live and after a rebuild.
async fn tickets_opened_before_numbers_are_numbered_by_their_position(log: TestLog) {
    let desk = Desk::new(log);
    // Something before it, so that the position is not 1.
    let first = desk.open(BASE).await;
    let legacy = Uuid::now_v7();
    let v2 = serde_json::json!({
        "ticket_id": legacy, "title": "Old printer", "description": "",
        "company_id": "acme", "requester_id": "cust-1", "queue_id": "q-support",
        "team_id": "t-support", "priority": "low", "status": "open", "tags": [],
    });
    let appended = desk
        .log
        .store
        .append(AppendRequest {
            stream_id: legacy.to_string(),
            expected_version: ExpectedVersion::Exact(0),
            events: vec![NewEvent {
                event_type: "TicketCreated".into(),
                schema_version: 2,
                payload: v2,
            }],
            metadata: Metadata::new("agent-1", "agent"),
        })
        .await
        .expect("appends");
    desk.project().await;
    let row = desk.row(legacy).await;
    assert_eq!(row.number, appended.last_position);
    assert_eq!(desk.row(first).await.number, 1);

    checkpoint::reset(desk.database(), &TicketsProjection)
        .await
        .expect("reset");
    desk.project().await;
    assert_eq!(
        desk.row(legacy).await.number,
        appended.last_position,
        "same after a rebuild"
    );
}

/// More texts match than relevance ranks: it ranks the newest that pass the
/// list's filters and visibility, so an older match of the caller's team is
/// found, while counts and other orders see every match.
async fn relevance_ranks_the_newest_matches_that_pass_the_filters(log: TestLog) {
    let desk = Desk::new(log);
    let ours = desk
        .open(NewTicket {
            title: "Zebra in team one",
            team: "t-one",
            ..BASE
        })
        .await;
    for _ in 0..RANKED_CANDIDATES {
        desk.open(NewTicket {
            title: "Zebra elsewhere",
            team: "t-two",
            ..BASE
        })
        .await;
    }
    desk.project().await;
    project(&desk.log.store, Arc::new(SearchProjection)).await;
    let search = |visibility| TicketFilter {
        search: Some(Search {
            text: "zebra".into(),
            internal_comments: true,
        }),
        ..TicketFilter::visible_to(visibility)
    };
    let relevance = Page::first(Sort::new(SortField::Relevance, Direction::Desc));

    let team_one = desk
        .list(&search(Visibility::Teams(vec!["t-one".into()])), &relevance)
        .await;
    let found: Vec<Uuid> = team_one.items.iter().map(|item| item.ticket.id).collect();
    assert_eq!(found, [ours], "the team's older match is ranked");
    assert!(
        team_one.items[0]
            .snippet
            .as_deref()
            .unwrap_or_default()
            .contains("<mark>Zebra</mark>")
    );

    let everyone = search(Visibility::All);
    let mut page = relevance.clone().with_limit(tickets::MAX_LIMIT);
    let mut ranked = BTreeSet::new();
    loop {
        let answer = desk.list(&everyone, &page).await;
        ranked.extend(answer.items.iter().map(|item| item.ticket.id));
        match answer.next_cursor {
            Some(cursor) => page = page.after(cursor),
            None => break,
        }
    }
    assert_eq!(
        ranked.len() as i64,
        RANKED_CANDIDATES,
        "the newest matches are ranked"
    );
    assert!(!ranked.contains(&ours), "the oldest match is past them");
    let (counted, _) = tickets::query::count(
        desk.database(),
        &everyone,
        &DueTimes::default(),
        OffsetDateTime::now_utc(),
    )
    .await
    .expect("count answers");
    assert_eq!(counted, RANKED_CANDIDATES + 1, "counts see every match");
    let oldest_first = Page::first(Sort::new(SortField::Created, Direction::Asc)).with_limit(1);
    let first = desk.list(&everyone, &oldest_first).await;
    assert_eq!(
        first.items[0].ticket.id, ours,
        "other orders see every match"
    );
    assert!(first.items[0].snippet.is_some());
}

/// Enough matches that PostgreSQL ranks from a first window (over 3,000,
/// see `search::query::Windows`), every one passing the filters: the window
/// holds the newest candidates and its answer is theirs.
async fn relevance_from_a_first_window_is_the_newest_matches(log: TestLog) {
    let desk = Desk::new(log);
    let herd = NewTicket {
        title: "Zebra herd",
        ..BASE
    };
    let mut opened = Vec::new();
    for _ in 0..FILLER_MATCHES {
        opened.push(desk.open(herd).await);
    }
    desk.project().await;
    project(&desk.log.store, Arc::new(SearchProjection)).await;
    analyze_search(&desk).await;
    let filter = TicketFilter {
        statuses: vec![Status::Open],
        search: Some(Search {
            text: "zebra".into(),
            internal_comments: false,
        }),
        ..TicketFilter::default()
    };
    let page = Page::first(Sort::new(SortField::Relevance, Direction::Desc)).with_limit(10);
    let answer = desk.list(&filter, &page).await;
    let listed: Vec<Uuid> = answer.items.iter().map(|item| item.ticket.id).collect();
    let newest: Vec<Uuid> = opened.iter().rev().take(10).copied().collect();
    assert_eq!(listed, newest);
}

/// Gathers on PostgreSQL the statistics the planner estimates a search's
/// matches from (autovacuum would, in its time).
async fn analyze_search(desk: &Desk) {
    if let Database::Postgres(pool) = desk.database() {
        sqlx::query("ANALYZE read_models.ticket_search")
            .execute(pool)
            .await
            .expect("analyze");
    }
}

/// Older matches than relevance needs: enough that PostgreSQL sizes a first
/// window below half of the log (over 3,000 matching texts), none of them
/// passing the test's priority filter.
const FILLER_MATCHES: usize = 3_200;

/// A search in relevance order looks through the newest positions first
/// and widens its window until it holds every candidate: with matches
/// spread over the whole log and filtered by status and priority (on
/// PostgreSQL a first window sized from the planner's estimate, then the
/// whole index), it ranks and pages exactly as ranking the whole index
/// would: title hits first, then the newest matching text.
async fn relevance_pages_the_same_when_matches_span_several_windows(log: TestLog) {
    let desk = Desk::new(log);
    let filler = NewTicket {
        title: "Zebra herd",
        priority: Priority::Low,
        ..BASE
    };
    for _ in 0..FILLER_MATCHES {
        desk.open(filler).await;
    }
    // Each ticket's rank key: its best matching text's position, a title
    // hit above any other.
    let mut expected: Vec<(i64, Uuid)> = Vec::new();
    for round in 0..12 {
        let title = if round % 3 == 0 {
            "Zebra crossing"
        } else {
            "Printer jam"
        };
        let id = desk.open(NewTicket { title, ..BASE }).await;
        desk.open(BASE).await;
        desk.project().await;
        let created = desk.row(id).await.created_position;
        let mut best = (round % 3 == 0).then_some(created + (1 << 40));
        if round % 2 == 0 {
            let said = desk.run(id, comment("a zebra walked in", false)).await;
            best = best.max(Some(said.position));
        }
        desk.open(BASE).await;
        if round % 4 == 3 {
            desk.run(id, status(Status::Closed)).await;
        } else if let Some(best) = best {
            expected.push((best, id));
        }
    }
    expected.sort_unstable_by(|a, b| b.cmp(a));
    let expected: Vec<Uuid> = expected.into_iter().map(|(_, id)| id).collect();
    desk.project().await;
    project(&desk.log.store, Arc::new(SearchProjection)).await;
    analyze_search(&desk).await;
    let filter = TicketFilter {
        statuses: vec![Status::Open],
        priorities: vec![Priority::Medium],
        search: Some(Search {
            text: "zebra".into(),
            internal_comments: false,
        }),
        ..TicketFilter::default()
    };

    let mut page = Page::first(Sort::new(SortField::Relevance, Direction::Desc)).with_limit(2);
    let mut ranked = Vec::new();
    loop {
        let answer = desk.list(&filter, &page).await;
        ranked.extend(answer.items.iter().map(|item| item.ticket.id));
        assert!(ranked.len() <= WALK_BOUND, "the walk does not end");
        match answer.next_cursor {
            Some(cursor) => page = page.after(cursor),
            None => break,
        }
    }
    assert_eq!(ranked, expected);
}
