//! The help desk the `rebuild`, `lag` and `http` benchmarks simulate: a
//! directory (10 teams of 8 agents, 50 queues, 20 companies of 5 customers)
//! and realistic ticket lifecycles.
//!
//! A [`Lane`] works through tickets one after the other, the way one busy
//! desk would: a customer (or an agent) opens a ticket in one of the 50
//! queues, an agent of the queue's team takes it and starts, then a random
//! middle (public replies, customer replies, internal notes, waiting on the
//! customer, priority changes, edits, moves to another team's queue with a
//! reassignment, reassignments, unassignments), then resolve and close; a
//! few tickets are reopened and closed again, a few are closed as spam right
//! away. About 10 events per ticket. Each command is decided by the domain
//! (`Ticket::decide`) against the lane's in-memory ticket and appended at
//! the version it was decided at, one command per append, as the API does.
//! Many lanes run concurrently and the store's group commit batches them.

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use bomizzel_domain::{Priority, Status, Ticket, TicketCommand, TicketEvent};
use bomizzel_store::{
    AppendRequest, Appended, Database, EventStore, ExpectedVersion, Metadata, NewEvent,
};
use cqrs_es::Aggregate;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;
use uuid::Uuid;

const TEAMS: usize = 10;
const QUEUES_PER_TEAM: usize = 5;
const AGENTS_PER_TEAM: usize = 8;
const COMPANIES: usize = 20;
const CUSTOMERS_PER_COMPANY: usize = 5;

const TITLES: &[&str] = &[
    "Cannot log in after the password reset",
    "Invoice shows the wrong VAT number",
    "Export to CSV times out for large reports",
    "Two-factor codes arrive late",
    "Please add a second billing contact",
    "Dashboard widgets are empty since this morning",
    "Refund for a duplicate charge",
    "API returns 502 on bulk upload",
    "Change the company's legal name",
    "Mobile app crashes when attaching a photo",
];

const DESCRIPTIONS: &[&str] = &[
    "Since yesterday several of our users cannot sign in; the reset mail arrives but the link says it has expired. We tried two browsers.",
    "Our March invoice carries last year's VAT number. Our accountant needs a corrected invoice before the end of the month.",
    "Exporting the quarterly report (about 40,000 rows) stops after a minute with a timeout. Smaller exports work.",
    "",
];

const REPLIES: &[&str] = &[
    "Thanks for the report, we are looking into it and will get back to you within the day.",
    "Could you send us the exact time it happened and a screenshot of the error?",
    "We deployed a fix; could you try again and tell us whether it works now?",
    "I have forwarded this to our billing team, who will issue a corrected invoice.",
    "It works again on our side, thank you for the quick help!",
    "Still the same problem here, see the attached log.",
];

const NOTES: &[&str] = &[
    "Reproduced on staging; looks like the token TTL change from last week.",
    "Customer is on the enterprise plan, keep them posted.",
    "Duplicate of an older ticket, closing.",
    "Needs a database fix, asked the platform team.",
];

const TAGS: &[&str] = &[
    "billing", "login", "export", "mobile", "api", "vip", "bug", "how-to",
];

/// Who exists and who belongs where, written to the directory tables
/// before a run.
#[derive(Debug, Clone)]
pub struct Directory {
    pub companies: Vec<Company>,
    pub teams: Vec<Team>,
    pub queues: Vec<Queue>,
}

#[derive(Debug, Clone)]
pub struct Company {
    pub id: String,
    pub customers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: String,
    pub agents: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub id: String,
    /// Index into [`Directory::teams`].
    pub team: usize,
}

impl Directory {
    /// 10 teams of 8 agents, 5 queues each (50), 20 companies of 5
    /// customers.
    pub fn standard() -> Self {
        let teams = (0..TEAMS)
            .map(|t| Team {
                id: format!("team-{t:02}"),
                agents: (0..AGENTS_PER_TEAM)
                    .map(|a| format!("agent-{t:02}-{a}"))
                    .collect(),
            })
            .collect();
        let queues = (0..TEAMS * QUEUES_PER_TEAM)
            .map(|q| Queue {
                id: format!("queue-{q:02}"),
                team: q % TEAMS,
            })
            .collect();
        let companies = (0..COMPANIES)
            .map(|c| Company {
                id: format!("company-{c:02}"),
                customers: (0..CUSTOMERS_PER_COMPANY)
                    .map(|u| format!("customer-{c:02}-{u}"))
                    .collect(),
            })
            .collect();
        Self {
            companies,
            teams,
            queues,
        }
    }

    /// Every agent with the index of their team, team by team.
    pub fn agents(&self) -> impl Iterator<Item = (usize, &str)> {
        self.teams
            .iter()
            .enumerate()
            .flat_map(|(t, team)| team.agents.iter().map(move |a| (t, a.as_str())))
    }

    /// Writes the directory with plain SQL (the `rebuild` and `lag`
    /// benchmarks have no server to go through).
    pub async fn insert(&self, database: &Database) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        bomizzel_projections::on_pool!(database, pool => {
            let mut tx = pool.begin().await?;
            for company in &self.companies {
                sqlx::query("INSERT INTO companies (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(&company.id)
                    .bind(&company.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                for customer in &company.customers {
                    sqlx::query(
                        "INSERT INTO users (id, name, role, company_id, created_at) \
                         VALUES ($1, $2, 'customer', $3, $4)",
                    )
                    .bind(customer)
                    .bind(customer)
                    .bind(&company.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for team in &self.teams {
                sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(&team.id)
                    .bind(&team.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            for queue in &self.queues {
                sqlx::query(
                    "INSERT INTO queues (id, name, team_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&queue.id)
                .bind(&queue.id)
                .bind(&self.teams[queue.team].id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for (team, agent) in self.agents() {
                sqlx::query(
                    "INSERT INTO users (id, name, role, company_id, created_at) \
                     VALUES ($1, $2, 'agent', NULL, $3)",
                )
                .bind(agent)
                .bind(agent)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                    .bind(&self.teams[team].id)
                    .bind(agent)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// A ticket title, a comment body or a priority, as people write them.
pub mod text {
    use super::*;

    pub fn title(rng: &mut impl Rng) -> String {
        (*pick(rng, TITLES)).to_owned()
    }

    pub fn description(rng: &mut impl Rng) -> String {
        (*pick(rng, DESCRIPTIONS)).to_owned()
    }

    pub fn reply(rng: &mut impl Rng) -> String {
        (*pick(rng, REPLIES)).to_owned()
    }

    pub fn note(rng: &mut impl Rng) -> String {
        (*pick(rng, NOTES)).to_owned()
    }

    /// Zero to three tags.
    pub fn tags(rng: &mut impl Rng) -> Vec<String> {
        let count = rng.random_range(0..=3);
        TAGS.choose_multiple(rng, count)
            .map(|t| (*t).to_owned())
            .collect()
    }

    /// Mostly medium, sometimes urgent.
    pub fn priority(rng: &mut impl Rng) -> Priority {
        match rng.random_range(0..100) {
            0..20 => Priority::Low,
            20..70 => Priority::Medium,
            70..92 => Priority::High,
            _ => Priority::Urgent,
        }
    }

    pub fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
        items.choose(rng).expect("text pools are not empty")
    }
}

/// When events happen: now, or spread over a past period as if the log had
/// been filled over weeks (queue metrics bucket by hour).
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Live,
    History {
        from: OffsetDateTime,
        span: time::Duration,
    },
}

impl Clock {
    /// `days` days ending a week ago: a ticket's steps are at most three
    /// hours apart and a lifecycle has fewer than 40, so all stay in the past.
    pub fn past_days(days: i64) -> Self {
        let span = time::Duration::days(days);
        Self::History {
            from: OffsetDateTime::now_utc() - span - time::Duration::weeks(1),
            span,
        }
    }

    fn ticket_opened(&self, rng: &mut impl Rng) -> OffsetDateTime {
        match *self {
            Self::Live => OffsetDateTime::now_utc(),
            Self::History { from, span } => from + span * rng.random::<f64>(),
        }
    }

    /// A step of a ticket some minutes after the previous one.
    fn next_step(&self, rng: &mut impl Rng, previous: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Live => OffsetDateTime::now_utc(),
            Self::History { .. } => previous + time::Duration::minutes(rng.random_range(1..=180)),
        }
    }
}

/// One step of a ticket's life after it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Assign to another agent of the ticket's current team.
    Assign,
    Unassign,
    Start,
    Wait,
    AgentReply,
    CustomerReply,
    InternalNote,
    Reprioritize,
    Edit,
    /// To a queue of another team.
    Move,
    Resolve,
    Close,
    Reopen,
}

/// The steps after `TicketCreated`: about 9 on average.
fn plan(rng: &mut impl Rng) -> VecDeque<Step> {
    use Step::*;
    if rng.random_bool(0.04) {
        return VecDeque::from([InternalNote, Close]);
    }
    let mut steps = vec![Assign, Start];
    for _ in 0..rng.random_range(0..=10) {
        let chosen: &[Step] = match rng.random_range(0..100) {
            0..24 => &[AgentReply],
            24..40 => &[CustomerReply],
            40..54 => &[InternalNote],
            54..64 => &[Wait, CustomerReply, Start],
            64..74 => &[Reprioritize],
            74..82 => &[Edit],
            82..88 => &[Move, Assign],
            88..94 => &[Assign],
            _ => &[Unassign, Assign],
        };
        steps.extend_from_slice(chosen);
    }
    steps.extend([Resolve, Close]);
    if rng.random_bool(0.15) {
        steps.extend([Reopen, CustomerReply, Resolve, Close]);
    }
    steps.into()
}

/// Works through tickets one after the other; see the module doc.
#[derive(Debug)]
pub struct Lane {
    directory: Arc<Directory>,
    clock: Clock,
    rng: SmallRng,
    ticket: Ticket,
    plan: VecDeque<Step>,
    at: OffsetDateTime,
    tickets_opened: u64,
    /// The lane's seed, which is its index: ticket numbers are unique across lanes.
    seed: u64,
}

/// Most lanes whose ticket numbers never meet (numbers interleave by lane).
const MAX_LANES: u64 = 1024;

impl Lane {
    pub fn new(directory: Arc<Directory>, clock: Clock, seed: u64) -> Self {
        Self {
            directory,
            clock,
            rng: SmallRng::seed_from_u64(seed),
            ticket: Ticket::default(),
            plan: VecDeque::new(),
            at: OffsetDateTime::UNIX_EPOCH,
            tickets_opened: 0,
            seed,
        }
    }

    /// Tickets this lane has opened.
    pub fn tickets_opened(&self) -> u64 {
        self.tickets_opened
    }

    /// Decides the lane's next command and appends its event at the
    /// version it was decided at.
    pub async fn append_next(&mut self, store: &EventStore) -> Result<Appended> {
        let (event, metadata) = self.next_event()?;
        let stream_id = event.ticket_id().to_string();
        let version = self.ticket.version();
        let appended = store
            .append(AppendRequest {
                stream_id: stream_id.clone(),
                expected_version: ExpectedVersion::Exact(version),
                events: vec![NewEvent {
                    event_type: event.event_type_name().to_owned(),
                    schema_version: event.schema_version(),
                    payload: event.to_payload(),
                }],
                metadata,
            })
            .await
            .with_context(|| format!("append to ticket {stream_id} at version {version}"))?;
        ensure!(
            appended.version == version + 1 && !appended.duplicate,
            "ticket {stream_id}: expected version {}, the store answered {appended:?}",
            version + 1
        );
        self.ticket.apply(event);
        Ok(appended)
    }

    /// The next event that changes something, opening a new ticket when the
    /// current one is done.
    fn next_event(&mut self) -> Result<(TicketEvent, Metadata)> {
        loop {
            let (command, actor, role) = match self.plan.pop_front() {
                Some(step) => {
                    let (actor, role) = self.actor(step);
                    (self.command(step, &actor), actor, role)
                }
                None => self.open(),
            };
            let event = match self.ticket.decide(command.clone()) {
                Ok(Some(event)) => event,
                // A step that happens to change nothing (e.g. unassigning
                // an unassigned ticket) is skipped.
                Ok(None) => continue,
                Err(error) => bail!(
                    "the workload generated a command the domain refuses ({error}): {command:?}"
                ),
            };
            self.at = self.clock.next_step(&mut self.rng, self.at);
            let mut metadata = Metadata::new(actor, role);
            metadata.occurred_at = self.at;
            return Ok((event, metadata));
        }
    }

    /// Starts a new ticket: its `Create` command and who sends it.
    fn open(&mut self) -> (TicketCommand, String, &'static str) {
        let rng = &mut self.rng;
        let directory = &self.directory;
        let queue = text::pick(rng, &directory.queues);
        let team = &directory.teams[queue.team];
        let company = text::pick(rng, &directory.companies);
        let requester = text::pick(rng, &company.customers).clone();
        let (actor, role) = if rng.random_bool(0.8) {
            (requester.clone(), "customer")
        } else {
            (text::pick(rng, &team.agents).clone(), "agent")
        };
        let command = TicketCommand::Create {
            id: Uuid::now_v7(),
            number: self.tickets_opened * MAX_LANES + self.seed % MAX_LANES + 1,
            title: text::title(rng),
            description: text::description(rng),
            company_id: company.id.clone(),
            requester_id: requester,
            queue_id: queue.id.clone(),
            team_id: team.id.clone(),
            priority: text::priority(rng),
            tags: text::tags(rng),
        };
        self.ticket = Ticket::default();
        self.plan = plan(rng);
        // `next_step` moves on from here: the creation is the first step.
        self.at = self.clock.ticket_opened(rng);
        self.tickets_opened += 1;
        (command, actor, role)
    }

    /// The agents of the ticket's current team.
    fn team_agents(&self) -> &[String] {
        self.directory
            .teams
            .iter()
            .find(|team| team.id == self.ticket.team_id())
            .map_or(&[], |team| team.agents.as_slice())
    }

    /// The requester for their own replies, reopens and half the closes;
    /// the assignee (or an agent of the team) for everything else.
    fn actor(&mut self, step: Step) -> (String, &'static str) {
        let customer = match step {
            Step::CustomerReply | Step::Reopen => true,
            Step::Close => self.rng.random_bool(0.5),
            _ => false,
        };
        if customer {
            return (self.ticket.requester_id().to_owned(), "customer");
        }
        let agent = match self.ticket.assignee_id() {
            Some(assignee) => assignee.to_owned(),
            None => {
                let agents = self.team_agents().to_vec();
                text::pick(&mut self.rng, &agents).clone()
            }
        };
        (agent, "agent")
    }

    /// What `step` asks of the ticket; `actor` writes the comments.
    fn command(&mut self, step: Step, actor: &str) -> TicketCommand {
        let status = |status| TicketCommand::ChangeStatus { status };
        match step {
            Step::Assign => {
                let current = self.ticket.assignee_id().map(str::to_owned);
                let others: Vec<String> = self
                    .team_agents()
                    .iter()
                    .filter(|agent| Some(*agent) != current.as_ref())
                    .cloned()
                    .collect();
                TicketCommand::Assign {
                    assignee_id: text::pick(&mut self.rng, &others).clone(),
                }
            }
            Step::Unassign => TicketCommand::Unassign,
            Step::Start => status(Status::InProgress),
            Step::Wait => status(Status::Waiting),
            Step::Resolve => status(Status::Resolved),
            Step::Close => status(Status::Closed),
            Step::Reopen => status(Status::Open),
            Step::AgentReply | Step::CustomerReply | Step::InternalNote => {
                let internal = step == Step::InternalNote;
                TicketCommand::AddComment {
                    comment_id: Uuid::now_v7(),
                    author_id: actor.to_owned(),
                    body: if internal {
                        text::note(&mut self.rng)
                    } else {
                        text::reply(&mut self.rng)
                    },
                    internal,
                }
            }
            Step::Reprioritize => TicketCommand::ChangePriority {
                priority: text::priority(&mut self.rng),
            },
            Step::Edit => TicketCommand::Update {
                title: Some(format!("{} (updated)", text::title(&mut self.rng))),
                description: None,
                tags: Some(text::tags(&mut self.rng)),
            },
            Step::Move => {
                let directory = Arc::clone(&self.directory);
                let current_team = self.ticket.team_id().to_owned();
                let elsewhere: Vec<&Queue> = directory
                    .queues
                    .iter()
                    .filter(|queue| directory.teams[queue.team].id != current_team)
                    .collect();
                let queue = text::pick(&mut self.rng, &elsewhere);
                TicketCommand::Move {
                    queue_id: queue.id.clone(),
                    team_id: directory.teams[queue.team].id.clone(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator only produces commands the domain accepts, and about
    /// ten events per ticket.
    #[test]
    fn lifecycles_are_accepted_and_about_ten_events_long() {
        let mut lane = Lane::new(Arc::new(Directory::standard()), Clock::past_days(30), 7);
        let mut kinds = std::collections::BTreeSet::new();
        let events = 100_000;
        for _ in 0..events {
            let (event, metadata) = lane.next_event().expect("accepted");
            assert!(metadata.occurred_at < OffsetDateTime::now_utc());
            kinds.insert(event.event_type_name());
            lane.ticket.apply(event);
        }
        let per_ticket = events as f64 / lane.tickets_opened() as f64;
        assert!((8.0..12.0).contains(&per_ticket), "{per_ticket}");
        assert_eq!(kinds.len(), 8, "every event type occurs: {kinds:?}");
    }
}
