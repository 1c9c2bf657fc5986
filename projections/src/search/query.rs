//! The search SQL of each backend: which tickets match a search and how
//! well ([`hits_sql`], joined by the ticket list), and the best snippet of
//! each ticket of a page ([`snippets`]).
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
use crate::sql::{Args, fetch};
use crate::tickets::Search;

/// Most words a search uses; more are ignored.
const MAX_WORDS: usize = 16;
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

/// A subquery (to join as `hits`) of the tickets matching `search`, with
/// columns `hit_ticket` and `rank_key` (higher is better).
pub(crate) fn hits_sql<'a>(database: &Database, search: &Search, args: &mut Args<'a>) -> String {
    let text = args.push(match_text(database, &words(&search.text)));
    match database {
        Database::Sqlite(_) => {
            let internal = if search.internal_comments {
                ""
            } else {
                " AND internal = 0"
            };
            format!(
                "(SELECT ticket_id AS hit_ticket, CAST(-MIN(rank) * 1000000000 AS INTEGER) AS rank_key \
                 FROM ticket_search WHERE ticket_search MATCH {text}{internal} GROUP BY ticket_id) hits"
            )
        }
        Database::Postgres(_) => {
            let internal = if search.internal_comments {
                ""
            } else {
                " AND NOT internal"
            };
            format!(
                "(SELECT ticket_id AS hit_ticket, \
                 CAST(MAX(ts_rank(document, matched)) * 1000000000 AS BIGINT) AS rank_key \
                 FROM ticket_search, plainto_tsquery('english', {text}) AS matched \
                 WHERE document @@ matched{internal} GROUP BY ticket_id) hits"
            )
        }
    }
}

/// For each of `tickets` that matches `search`, its best matching text
/// with the matches in `<mark>…</mark>`, HTML-escaped otherwise.
pub(crate) async fn snippets(
    database: &Database,
    search: &Search,
    tickets: &[String],
) -> Result<HashMap<String, String>, sqlx::Error> {
    if tickets.is_empty() {
        return Ok(HashMap::new());
    }
    let mut args = Args::for_database(database);
    let start = args.push(MATCH_START);
    let end = args.push(MATCH_END);
    let text = args.push(match_text(database, &words(&search.text)));
    let list = args.push_all(tickets.iter().map(String::as_str));
    let sql = match database {
        Database::Sqlite(_) => {
            let internal = if search.internal_comments {
                ""
            } else {
                " AND internal = 0"
            };
            format!(
                "SELECT ticket_id, snippet(ticket_search, -1, {start}, {end}, '…', 16) \
                 FROM ticket_search WHERE ticket_search MATCH {text} AND ticket_id IN ({list}){internal} \
                 ORDER BY rank"
            )
        }
        Database::Postgres(_) => {
            let internal = if search.internal_comments {
                ""
            } else {
                " AND NOT internal"
            };
            format!(
                "SELECT ticket_id, ts_headline('english', title || ' ' || body, matched, \
                 'StartSel=' || {start} || ', StopSel=' || {end} || ', MaxWords=24, MinWords=8, MaxFragments=1') \
                 FROM ticket_search, plainto_tsquery('english', {text}) AS matched \
                 WHERE document @@ matched AND ticket_id IN ({list}){internal} \
                 ORDER BY ts_rank(document, matched) DESC"
            )
        }
    };
    let rows: Vec<(String, String)> = fetch(database, &sql, &args).await?;
    let mut best = HashMap::with_capacity(tickets.len());
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
