//! The search SQL of each backend: which tickets match a search
//! ([`matching_sql`]), the ranked candidates a list in relevance order
//! pages through ([`ranked_sql`]), and the best snippet of each ticket of a
//! page ([`snippets`]).
//!
//! Ranking is what costs: BM25 or `ts_rank` of every matching text of two
//! common words (tens of thousands at a million tickets) takes hundreds of
//! milliseconds. So relevance ranks the newest [`RANKED_CANDIDATES`]
//! matching texts of tickets that pass the list's filters and visibility,
//! found newest first through the index and stopping there: a search
//! matching fewer texts is ranked whole; one matching more answers the
//! best of its newest matches (narrow it, or sort by another key, to reach
//! older ones). Counts and the other orders use every match.
//!
//! A search is its words (letters and digits; everything else separates
//! them), all of which must match, stemmed: `"printer" "fire"` for FTS5,
//! `plainto_tsquery('english', 'printer fire')` on PostgreSQL. Relevance is
//! BM25 (FTS5's `rank`, title weighted 4:1) or `ts_rank` (title weight A,
//! the rest B), as an integer key (scaled by 10^9) so that a page cursor can
//! hold it. Customers' searches leave internal comments out of both.

use std::collections::HashMap;

use bomizzel_store::Database;

use crate::db::ReadModelTx;
use crate::sql::{Args, Placeholder, fetch};
use crate::tickets::Search;

/// Most words a search uses; more are ignored.
const MAX_WORDS: usize = 16;
/// Most matching texts a list in relevance order ranks (see the module's
/// doc).
pub const RANKED_CANDIDATES: i64 = 500;
/// Around matches in a snippet, replaced by `<mark>`/`</mark>` once the
/// text is escaped: characters no ticket text is expected to hold.
const MATCH_START: &str = "\u{E000}";
const MATCH_END: &str = "\u{E001}";

/// The column of `ticket_search` holding a document's position.
pub(crate) fn key_column(tx: &ReadModelTx<'_>) -> &'static str {
    match tx {
        ReadModelTx::Sqlite(..) => "rowid",
        ReadModelTx::Postgres(_) => "position",
    }
}

/// [`key_column`] of `database`.
fn key_of(database: &Database) -> &'static str {
    match database {
        Database::Sqlite(_) => "rowid",
        Database::Postgres(_) => "position",
    }
}

/// The words of `text` a search looks for; empty when it has none.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_WORDS)
        .map(str::to_lowercase)
        .collect()
}

/// The query text the backend's matcher takes.
fn match_text(database: &Database, words: &[String]) -> String {
    match database {
        Database::Sqlite(_) => words
            .iter()
            .map(|word| format!("\"{word}\""))
            .collect::<Vec<_>>()
            .join(" "),
        Database::Postgres(_) => words.join(" "),
    }
}

/// The search text, as the backend's matcher takes it, added to `args`.
pub(crate) fn push_text(database: &Database, search: &Search, args: &mut Args<'_>) -> Placeholder {
    args.push(match_text(database, &words(&search.text)))
}

/// ` AND ...` leaving out internal comments unless `search` may match them.
fn internal_condition(database: &Database, search: &Search) -> &'static str {
    match (search.internal_comments, database) {
        (true, _) => "",
        (false, Database::Sqlite(_)) => " AND ticket_search.internal = 0",
        (false, Database::Postgres(_)) => " AND NOT ticket_search.internal",
    }
}

/// A condition on `tickets`: the ticket matches `search` (any of its texts).
pub(crate) fn matching_sql(database: &Database, search: &Search, args: &mut Args<'_>) -> String {
    let text = push_text(database, search, args);
    let internal = internal_condition(database, search);
    match database {
        Database::Sqlite(_) => format!(
            "tickets.id IN (SELECT ticket_id FROM ticket_search \
             WHERE ticket_search MATCH {text}{internal})"
        ),
        Database::Postgres(_) => format!(
            "tickets.id IN (SELECT ticket_id FROM ticket_search \
             WHERE document @@ plainto_tsquery('english', {text}){internal})"
        ),
    }
}

/// The `FROM` of a list in relevance order: the tickets of the newest
/// [`RANKED_CANDIDATES`] texts matching `text` (from [`push_text`]) whose
/// tickets meet `conditions` (SQL over `tickets`, their values pushed
/// after `text`), joined as `hits` with `hit_ticket`, `rank_key` (higher
/// is better) and `hit_doc` (the best text's key, for its snippet).
pub(crate) fn ranked_sql(
    database: &Database,
    search: &Search,
    text: Placeholder,
    conditions: &[String],
    args: &mut Args<'_>,
) -> String {
    let internal = internal_condition(database, search);
    let filters: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    let limit = args.push(RANKED_CANDIDATES);
    match database {
        // CROSS JOIN keeps the texts the outer loop: walked newest first,
        // each looked up in `tickets`, until the limit.
        Database::Sqlite(_) => format!(
            "(SELECT hit_ticket, MAX(rank_key) AS rank_key, hit_doc FROM \
             (SELECT ticket_search.ticket_id AS hit_ticket, ticket_search.rowid AS hit_doc, \
             CAST(-ticket_search.rank * 1000000000 AS INTEGER) AS rank_key \
             FROM ticket_search CROSS JOIN tickets ON tickets.id = ticket_search.ticket_id \
             WHERE ticket_search MATCH {text}{internal}{filters} \
             ORDER BY ticket_search.rowid DESC LIMIT {limit}) GROUP BY hit_ticket) hits \
             CROSS JOIN tickets ON tickets.id = hits.hit_ticket"
        ),
        // Ranked outside the candidates' query, so only the candidates are.
        Database::Postgres(_) => format!(
            "(SELECT candidates.ticket_id AS hit_ticket, \
             CAST(MAX(ts_rank(candidates.document, matched)) * 1000000000 AS BIGINT) AS rank_key, \
             (array_agg(candidates.position ORDER BY ts_rank(candidates.document, matched) DESC))[1] AS hit_doc \
             FROM (SELECT ticket_search.ticket_id, ticket_search.position, ticket_search.document \
             FROM ticket_search JOIN tickets ON tickets.id = ticket_search.ticket_id \
             WHERE ticket_search.document @@ plainto_tsquery('english', {text}){internal}{filters} \
             ORDER BY ticket_search.position DESC LIMIT {limit}) candidates, \
             plainto_tsquery('english', {text}) AS matched \
             GROUP BY candidates.ticket_id) hits \
             JOIN tickets ON tickets.id = hits.hit_ticket"
        ),
    }
}

/// Which texts [`snippets`] reads.
pub(crate) enum Texts<'a> {
    /// Every matching text of these tickets.
    OfTickets(&'a [String]),
    /// These texts (their keys), the best of each ticket.
    Keyed(&'a [i64]),
}

/// For each ticket of `texts` that matches `search`, its best matching
/// text with the matches in `<mark>…</mark>`, HTML-escaped otherwise.
pub(crate) async fn snippets(
    database: &Database,
    search: &Search,
    texts: Texts<'_>,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let mut args = Args::for_database(database);
    let start = args.push(MATCH_START);
    let end = args.push(MATCH_END);
    let text = push_text(database, search, &mut args);
    // Several texts of a ticket: the best ranked first. (Ranking costs a
    // count of every text holding each word, so only then.)
    let (chosen, best_first) = match texts {
        Texts::OfTickets([]) | Texts::Keyed([]) => return Ok(HashMap::new()),
        Texts::OfTickets(tickets) => (
            format!(
                "ticket_search.ticket_id IN ({})",
                args.push_all(tickets.iter().map(String::as_str))
            ),
            true,
        ),
        Texts::Keyed(keys) => (
            format!(
                "ticket_search.{} IN ({})",
                key_of(database),
                args.push_all(keys.iter().copied())
            ),
            false,
        ),
    };
    let internal = internal_condition(database, search);
    let sql = match database {
        Database::Sqlite(_) => format!(
            "SELECT ticket_id, snippet(ticket_search, -1, {start}, {end}, '…', 16) \
             FROM ticket_search WHERE ticket_search MATCH {text} AND {chosen}{internal}{}",
            if best_first { " ORDER BY rank" } else { "" }
        ),
        Database::Postgres(_) => format!(
            "SELECT ticket_id, ts_headline('english', title || ' ' || body, matched, \
             'StartSel=' || {start} || ', StopSel=' || {end} || ', MaxWords=24, MinWords=8, MaxFragments=1') \
             FROM ticket_search, plainto_tsquery('english', {text}) AS matched \
             WHERE document @@ matched AND {chosen}{internal}{}",
            if best_first {
                " ORDER BY ts_rank(document, matched) DESC"
            } else {
                ""
            }
        ),
    };
    let rows: Vec<(String, String)> = fetch(database, &sql, &args).await?;
    let mut best = HashMap::new();
    for (ticket, snippet) in rows {
        best.entry(ticket).or_insert_with(|| marked(&snippet));
    }
    Ok(best)
}

/// `snippet` HTML-escaped, its match markers turned into `<mark>` tags.
fn marked(snippet: &str) -> String {
    let mut html = String::with_capacity(snippet.len() + 16);
    for character in snippet.chars() {
        match character {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            _ => html.push(character),
        }
    }
    html.replace(MATCH_START, "<mark>")
        .replace(MATCH_END, "</mark>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_letters_and_digits_lowercased() {
        assert_eq!(
            words("Printer \"ON\" fire!! 3rd-floor; DROP TABLE"),
            ["printer", "on", "fire", "3rd", "floor", "drop", "table"]
        );
        assert!(words(" \" * - ").is_empty());
        assert_eq!(words(&"a ".repeat(40)).len(), MAX_WORDS);
    }

    #[test]
    fn snippets_are_escaped_and_marked() {
        assert_eq!(
            marked("<b>\u{E000}printer\u{E001}</b> & 'co'"),
            "&lt;b&gt;<mark>printer</mark>&lt;/b&gt; &amp; &#39;co&#39;"
        );
    }
}
