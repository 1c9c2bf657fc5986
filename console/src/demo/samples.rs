//! The demo's sample tickets: what a fresh `--demo` shows before anyone
//! acts (a spread of statuses, priorities, assignees, comments, SLA states
//! with a breach or two), and the topics simulated customers write about,
//! each with the queue it belongs in.
//!
//! A sample's history is planned as dated steps (opened some minutes ago,
//! assigned, commented, moved along) and sent through the API in time
//! order, each dated when it "happened", so ages, SLA states and the
//! dashboard's hourly figures look like a desk that has been at work.

use serde_json::{Value, json};

/// What customers write about, per queue: a simulated ticket about one of
/// these titles lands in that queue.
pub const TOPICS: &[(&str, &[&str])] = &[
    (
        "general",
        &[
            "Cannot sign in after password reset",
            "Emails to customers bounce",
            "Shared drive is read-only",
            "VPN drops every hour",
            "Calendar invites arrive twice",
            "Need access to the sales dashboard",
        ],
    ),
    (
        "hardware",
        &[
            "Printer on fire",
            "Laptop battery is swollen",
            "Monitor flickers",
            "Docking station does not charge",
            "Keyboard is missing keys",
            "Projector shows no picture",
        ],
    ),
    (
        "invoices",
        &[
            "Invoice shows the wrong amount",
            "Refund for a double charge",
            "Need a copy of last month's invoice",
            "VAT number missing on invoice",
            "Card declined on renewal",
        ],
    ),
];

/// One sample ticket: (queue, title, customer, priority, opened this many
/// minutes ago, the agent who holds it, its status now, its comments as
/// (author, internal, text)).
type Sample = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    Option<&'static str>,
    &'static str,
    &'static [(&'static str, bool, &'static str)],
);

#[rustfmt::skip]
const SAMPLES: &[Sample] = &[
    // Unassigned past their first-response targets (urgent 15 min, high 60 min): breached.
    ("hardware", "Printer on the second floor smokes", "dave", "urgent", 40, None, "open",
        &[("dave", false, "There is a burning smell and the paper tray is black.")]),
    ("general", "Cannot sign in after password reset", "erin", "high", 95, None, "open", &[]),
    // Unassigned, due within the half hour: due soon.
    ("invoices", "Invoice shows the wrong amount", "frank", "medium", 225, None, "open",
        &[("frank", false, "We were billed for 12 seats; we have 10.")]),
    ("general", "Emails to customers bounce", "dave", "high", 300, Some("alice"), "in_progress",
        &[("alice", false, "We see the bounces too; checking the mail relay."),
          ("alice", true, "The relay's queue is full since the certificate renewal.")]),
    ("hardware", "Laptop battery is swollen", "erin", "high", 600, Some("bob"), "waiting",
        &[("bob", false, "Please stop using the laptop. Can you bring it to the front desk?")]),
    ("hardware", "Monitor flickers", "frank", "low", 1500, Some("bob"), "resolved",
        &[("bob", false, "Replaced the cable; the flicker is gone on our side."),
          ("frank", false, "Works now, thanks!")]),
    ("invoices", "Refund for a double charge", "dave", "high", 2000, Some("carol"), "closed",
        &[("carol", true, "The payment provider confirms the duplicate."),
          ("carol", false, "The refund is on its way; it takes 3-5 days.")]),
    ("general", "Shared drive is read-only", "erin", "medium", 180, Some("alice"), "in_progress", &[]),
    ("general", "VPN drops every hour", "frank", "medium", 50, None, "open",
        &[("frank", false, "It happens at 10:00, 11:00 and 12:00 sharp.")]),
    ("invoices", "Need a copy of last month's invoice", "erin", "low", 400, Some("carol"), "waiting",
        &[("carol", false, "Which of your two accounts is it for?")]),
    ("hardware", "Docking station does not charge", "dave", "medium", 30, None, "open", &[]),
    ("general", "Calendar invites arrive twice", "frank", "low", 3000, Some("alice"), "closed",
        &[("alice", false, "Fixed by removing the old sync rule.")]),
    ("invoices", "VAT number missing on invoice", "dave", "medium", 900, Some("carol"), "resolved",
        &[("carol", false, "Added the VAT number and sent a corrected invoice.")]),
    ("hardware", "Keyboard is missing keys", "erin", "low", 120, Some("bob"), "open", &[]),
    ("general", "Need access to the sales dashboard", "dave", "medium", 15, None, "open", &[]),
    ("invoices", "Card declined on renewal", "frank", "high", 70, Some("carol"), "in_progress",
        &[("carol", true, "The card issuer blocks recurring charges; asked the customer to call them.")]),
    ("hardware", "Projector shows no picture", "erin", "medium", 5000, Some("bob"), "closed", &[]),
    ("general", "Password reset link expired", "frank", "low", 45, Some("alice"), "waiting",
        &[("alice", false, "I sent a new link; does it work?")]),
];

/// One dated request of the seeding plan: `who` sends `body` to `path`
/// (`{id}` is the sample's ticket) `minutes_ago` minutes ago.
pub struct Step {
    pub minutes_ago: f64,
    pub sample: usize,
    pub who: &'static str,
    pub path: &'static str,
    pub body: Value,
}

/// The support agent who takes a team's unassigned work along.
fn first_agent(queue: &str) -> &'static str {
    if queue == "invoices" {
        "carol"
    } else {
        "alice"
    }
}

/// The statuses a ticket passes through from open to `status`.
fn path_to(status: &str) -> &'static [&'static str] {
    match status {
        "in_progress" => &["in_progress"],
        "waiting" => &["in_progress", "waiting"],
        "resolved" => &["in_progress", "resolved"],
        "closed" => &["in_progress", "resolved", "closed"],
        _ => &[],
    }
}

/// Every sample's steps, oldest first.
pub fn plan() -> Vec<Step> {
    let mut steps: Vec<Step> = SAMPLES
        .iter()
        .enumerate()
        .flat_map(|(i, s)| steps_of(i, s))
        .collect();
    steps.sort_by(|a, b| b.minutes_ago.total_cmp(&a.minutes_ago));
    steps
}

fn steps_of(index: usize, sample: &'static Sample) -> Vec<Step> {
    let (queue, title, customer, priority, minutes_ago, agent, status, comments) = *sample;
    let age = minutes_ago as f64;
    // Customers may not open urgent tickets: an agent raises it a minute later.
    let opened_as = if priority == "urgent" {
        "high"
    } else {
        priority
    };
    let at = |share: f64| age * (1.0 - share);
    let step = |share: f64, who, path, body| Step {
        minutes_ago: at(share),
        sample: index,
        who,
        path,
        body,
    };
    let mut steps = vec![step(
        0.0,
        customer,
        "/api/tickets",
        json!({
            "title": title,
            "description": format!("{} (sample ticket of the demo)", title),
            "queue_id": queue,
            "priority": opened_as,
        }),
    )];
    let actor = agent.unwrap_or_else(|| first_agent(queue));
    if priority == "urgent" {
        steps.push(Step {
            minutes_ago: age - 1.0,
            ..step(
                0.0,
                actor,
                "/api/tickets/{id}/priority",
                json!({ "priority": "urgent" }),
            )
        });
    }
    if let Some(agent) = agent {
        steps.push(step(
            0.1,
            agent,
            "/api/tickets/{id}/assign",
            json!({ "assignee_id": agent }),
        ));
    }
    for (n, (author, internal, text)) in comments.iter().enumerate() {
        steps.push(step(
            0.2 + 0.15 * n as f64,
            author,
            "/api/tickets/{id}/comments",
            json!({ "body": text, "internal": internal }),
        ));
    }
    for (n, next) in path_to(status).iter().enumerate() {
        steps.push(step(
            0.15 + 0.25 * n as f64,
            actor,
            "/api/tickets/{id}/status",
            json!({ "status": next }),
        ));
    }
    steps
}

/// The saved views every team starts with: (name, the list's question).
pub fn views() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Unassigned",
            json!({ "status": "open,in_progress,waiting", "assignee": "none" }),
        ),
        (
            "Mine",
            json!({ "status": "open,in_progress,waiting", "assignee": "me" }),
        ),
        (
            "SLA at risk",
            json!({ "status": "open,in_progress,waiting", "sla": "breached,due_soon", "sort": "sla_due" }),
        ),
        (
            "Recently closed",
            json!({ "status": "closed", "sort": "-updated" }),
        ),
    ]
}
