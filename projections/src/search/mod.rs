//! Read model `ticket_search`: the words of tickets and their comments, for
//! the ticket list's full-text search (`tickets::query::list` with a
//! `Search`). SQLite keeps them in an FTS5 table, PostgreSQL in a table
//! with a stored `tsvector` and a GIN index; [`query`] writes the matching
//! and snippet SQL for each.
//!
//! Each document is one row keyed by an event position: a ticket's title
//! and description (its `TicketCreated` position, edited in place when a
//! `TicketUpdated` changes either) and each comment (its `CommentAdded`
//! position, flagged `internal` for internal comments), with its scope
//! words ([`scope`]): when a ticket moves to another team, the scope of
//! each of its texts follows. Positions are
//! unique, so a rebuild writes the same rows. The search projection is its
//! own, so a rebuild of it (`bomizzel projections rebuild ticket_search`)
//! leaves the ticket list answering.

pub(crate) mod query;
pub(crate) mod scope;

pub use query::RANKED_CANDIDATES;

use std::collections::HashMap;

use async_trait::async_trait;
use bomizzel_domain::TicketEvent;

use crate::db::ReadModelTx;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::projection::Projection;
use crate::sql::{Args, Value, execute, fetch_in_tx, in_lists, insert_rows};

/// The search projection's name (its checkpoint key).
pub const NAME: &str = "ticket_search";

/// Keeps `ticket_search` and `ticket_search_tickets`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchProjection;

#[async_trait]
impl Projection for SearchProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["ticket_search", "ticket_search_tickets"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let mut batch = Batch::default();
        for event in events {
            batch.add(event);
        }
        batch.save(tx).await?;
        Ok(())
    }
}

/// One searchable text.
#[derive(Debug)]
struct Document {
    position: i64,
    ticket_id: String,
    internal: bool,
    title: String,
    body: String,
    scope: String,
}

/// An edit of a ticket's own document made before this batch.
#[derive(Debug, Default)]
struct Edit {
    title: Option<String>,
    body: Option<String>,
}

/// What a batch writes.
#[derive(Debug, Default)]
struct Batch {
    documents: Vec<Document>,
    /// Tickets created in this batch: the index of their document.
    created: HashMap<String, usize>,
    /// Edits of tickets created before this batch, by ticket.
    edits: HashMap<String, Edit>,
    /// The scope column of moved tickets' texts after this batch, by ticket.
    moves: HashMap<String, String>,
}

impl Batch {
    fn add(&mut self, projected: &ProjectedEvent) {
        let ticket_id = projected.event.ticket_id().to_string();
        match &projected.event {
            TicketEvent::TicketCreated {
                title,
                description,
                team_id,
                company_id,
                ..
            } => {
                self.created.insert(ticket_id.clone(), self.documents.len());
                self.documents.push(Document {
                    position: projected.position,
                    scope: scope::column(&ticket_id, team_id, company_id),
                    ticket_id,
                    internal: false,
                    title: title.clone(),
                    body: description.clone(),
                });
            }
            TicketEvent::CommentAdded {
                body,
                internal,
                route,
                ..
            } => {
                self.documents.push(Document {
                    position: projected.position,
                    scope: scope::column(&ticket_id, &route.team_id, &route.company_id),
                    ticket_id,
                    internal: *internal,
                    title: String::new(),
                    body: body.clone(),
                });
            }
            TicketEvent::TicketUpdated {
                title, description, ..
            } if title.is_some() || description.is_some() => {
                let title = title.as_ref().map(|change| change.to.clone());
                let body = description.as_ref().map(|change| change.to.clone());
                if let Some(&index) = self.created.get(&ticket_id) {
                    let document = &mut self.documents[index];
                    document.title = title.unwrap_or(std::mem::take(&mut document.title));
                    document.body = body.unwrap_or(std::mem::take(&mut document.body));
                } else {
                    let edit = self.edits.entry(ticket_id).or_default();
                    edit.title = title.or(edit.title.take());
                    edit.body = body.or(edit.body.take());
                }
            }
            TicketEvent::TicketMoved {
                to_team_id,
                company_id,
                ..
            } => {
                let scope = scope::column(&ticket_id, to_team_id, company_id);
                self.moves.insert(ticket_id, scope);
            }
            _ => {}
        }
    }

    async fn save(self, tx: &mut ReadModelTx<'_>) -> Result<(), sqlx::Error> {
        let key = query::key_column(tx);
        let rows = self
            .documents
            .iter()
            .flat_map(|document| {
                [
                    Value::from(document.position),
                    document.ticket_id.as_str().into(),
                    document.internal.into(),
                    document.title.as_str().into(),
                    document.body.as_str().into(),
                    document.scope.as_str().into(),
                ]
            })
            .collect();
        insert_rows(
            tx,
            "ticket_search",
            &[key, "ticket_id", "internal", "title", "body", "scope"],
            "",
            rows,
        )
        .await?;
        let own = self
            .created
            .values()
            .flat_map(|&index| {
                let document = &self.documents[index];
                [
                    Value::from(document.ticket_id.as_str()),
                    document.position.into(),
                ]
            })
            .collect();
        insert_rows(
            tx,
            "ticket_search_tickets",
            &["ticket_id", "position"],
            "",
            own,
        )
        .await?;
        edit_documents(tx, key, self.edits).await?;
        move_documents(tx, self.moves).await
    }
}

/// Applies `edits` to the documents of tickets created before the batch.
async fn edit_documents(
    tx: &mut ReadModelTx<'_>,
    key: &str,
    edits: HashMap<String, Edit>,
) -> Result<(), sqlx::Error> {
    let tickets: Vec<&String> = edits.keys().collect();
    let mut positions = HashMap::new();
    for chunk in in_lists(&tickets) {
        let mut args = Args::for_tx(tx);
        let list = args.push_set(chunk.iter().map(|ticket| ticket.as_str()));
        let sql = format!(
            "SELECT ticket_id, position FROM ticket_search_tickets WHERE ticket_id IN ({list})"
        );
        let found: Vec<(String, i64)> = fetch_in_tx(tx, &sql, &args).await?;
        positions.extend(found);
    }
    for (ticket, edit) in &edits {
        let Some(position) = positions.get(ticket) else {
            continue;
        };
        for (column, text) in [("title", &edit.title), ("body", &edit.body)] {
            if let Some(text) = text {
                let mut args = Args::for_tx(tx);
                let sql = format!(
                    "UPDATE ticket_search SET {column} = {} WHERE {key} = {}",
                    args.push(text.as_str()),
                    args.push(*position)
                );
                execute(tx, &sql, &args).await?;
            }
        }
    }
    Ok(())
}

/// Gives every text of each moved ticket (this batch's too: they were
/// written before) the scope of its last move: one statement per ticket.
async fn move_documents(
    tx: &mut ReadModelTx<'_>,
    moves: HashMap<String, String>,
) -> Result<(), sqlx::Error> {
    for (ticket, scope) in &moves {
        let keys = query::texts_of_ticket(tx, ticket).await?;
        for chunk in in_lists(&keys) {
            let mut args = Args::for_tx(tx);
            let sql = format!(
                "UPDATE ticket_search SET scope = {} WHERE {} IN ({})",
                args.push(scope.as_str()),
                query::key_column(tx),
                args.push_set(chunk.iter().copied())
            );
            execute(tx, &sql, &args).await?;
        }
    }
    Ok(())
}
