//! The search SQL of each backend: which tickets match a search
//! ([`matching_sql`]), the ranked candidates a list in relevance order
//! pages through ([`ranked_sql`]), and the best snippet of each ticket of a
//! page ([`snippets`]).
//!
//! Relevance must not cost a pass over every match: FTS5's BM25 first
//! counts every text holding each word (hundreds of thousands for common
//! words at a million tickets) and `ts_rank` reads each ranked row's
//! `tsvector`. So relevance is read from each text alone: a text whose
//! title holds every searched word ranks above every other, then newer texts
//! above older ones ([`rank_key_sql`]), the same on both backends; a
//! ticket ranks by its best text. And it ranks only the newest
//! [`RANKED_CANDIDATES`] matching texts of tickets that pass the list's
//! filters and visibility, found newest first through the index and
//! stopping there: a search matching fewer texts is ranked whole; one
//! matching more answers the best of its newest matches (narrow it, or
//! sort by another key, to reach older ones). Counts and the other orders
//! use every match.
//!
//! A search is its words (letters and digits; everything else separates
//! them), all of which must match, stemmed: `"printer" "fire"` for FTS5,
//! `plainto_tsquery('english', 'printer fire')` on PostgreSQL. The rank is
//! an integer key so that a page cursor can hold it. Customers' searches
//! leave internal comments out of both.

use std::collections::HashMap;

use bomizzel_store::Database;

use super::scope;
use crate::db::ReadModelTx;
use crate::sql::{Args, Placeholder, fetch, fetch_in_tx};
use crate::tickets::{Search, TicketFilter};

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

/// A search's match, its values added to the query's arguments.
pub(crate) struct Match {
    /// The words (with FTS5, the scope words too).
    text: Placeholder,
    /// PostgreSQL: the scope words, a `tsquery`.
    scope: Option<Placeholder>,
}

/// The match of `search` by the texts `filter` may list (see
/// [`scope::required`]), added to `args`.
pub(crate) fn push_match(
    database: &Database,
    search: &Search,
    filter: &TicketFilter,
    args: &mut Args<'_>,
) -> Match {
    push_scoped(
        database,
        search,
        Columns::Text,
        &scope::required(filter),
        args,
    )
}

/// Where a match looks for the searched words.
#[derive(Debug, Clone, Copy)]
enum Columns {
    /// The title and the body.
    Text,
    /// The title alone (SQLite; PostgreSQL reads the title, see
    /// [`title_hit_sql`]).
    Title,
}

/// The match of `search`'s words in `columns` by texts holding a word of
/// each of `scope`'s groups, added to `args`.
fn push_scoped(
    database: &Database,
    search: &Search,
    columns: Columns,
    scope: &[Vec<String>],
    args: &mut Args<'_>,
) -> Match {
    let words = words(&search.text);
    match database {
        Database::Sqlite(_) => {
            let quoted = |words: &[String], separator: &str| {
                let quoted: Vec<String> = words.iter().map(|word| format!("\"{word}\"")).collect();
                quoted.join(separator)
            };
            let columns = match columns {
                Columns::Text => "{title body}",
                Columns::Title => "title",
            };
            let mut text = format!("{columns} : ({})", quoted(&words, " "));
            for group in scope {
                text.push_str(&format!(" AND scope : ({})", quoted(group, " OR ")));
            }
            Match {
                text: args.push(text),
                scope: None,
            }
        }
        Database::Postgres(_) => {
            let text = args.push(words.join(" "));
            let groups: Vec<String> = scope
                .iter()
                .map(|group| format!("({})", group.join(" | ")))
                .collect();
            let scope = (!groups.is_empty()).then(|| args.push(groups.join(" & ")));
            Match { text, scope }
        }
    }
}

/// The condition on `ticket_search`: the text is `matched`.
fn match_condition(database: &Database, matched: &Match) -> String {
    let text = matched.text;
    match database {
        Database::Sqlite(_) => format!("ticket_search MATCH {text}"),
        // Two conditions, not one `&&` query: a search of stop words only
        // must match nothing, not every text of the scope.
        Database::Postgres(_) => {
            let scope = matched
                .scope
                .map(|scope| format!(" AND ticket_search.document @@ CAST({scope} AS tsquery)"))
                .unwrap_or_default();
            format!("ticket_search.document @@ plainto_tsquery('english', {text}){scope}")
        }
    }
}

/// The keys of the texts of `ticket`.
pub(crate) async fn texts_of_ticket(
    tx: &mut ReadModelTx<'_>,
    ticket: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut args = Args::for_tx(tx);
    let sql = match tx {
        ReadModelTx::Sqlite(..) => {
            let own = scope::word(scope::Kind::Ticket, ticket);
            format!(
                "SELECT rowid FROM ticket_search WHERE ticket_search MATCH {}",
                args.push(format!("scope : \"{own}\""))
            )
        }
        ReadModelTx::Postgres(_) => format!(
            "SELECT position FROM ticket_search WHERE ticket_id = {}",
            args.push(ticket)
        ),
    };
    let keys: Vec<(i64,)> = fetch_in_tx(tx, &sql, &args).await?;
    Ok(keys.into_iter().map(|(key,)| key).collect())
}

/// ` AND ...` leaving out internal comments unless `search` may match them.
fn internal_condition(database: &Database, search: &Search) -> &'static str {
    match (search.internal_comments, database) {
        (true, _) => "",
        (false, Database::Sqlite(_)) => " AND ticket_search.internal = 0",
        (false, Database::Postgres(_)) => " AND NOT ticket_search.internal",
    }
}

/// A condition on `tickets`: the ticket matches `search` (any of its
/// texts `filter` may list).
pub(crate) fn matching_sql(
    database: &Database,
    search: &Search,
    filter: &TicketFilter,
    args: &mut Args<'_>,
) -> String {
    let matched = push_match(database, search, filter, args);
    let condition = match_condition(database, &matched);
    let internal = internal_condition(database, search);
    format!("tickets.id IN (SELECT ticket_id FROM ticket_search WHERE {condition}{internal})")
}

/// Added to a text's position in its rank key when its title holds every
/// searched word: such texts rank above every other.
const TITLE_FIRST: i64 = 1 << 48;

/// Whether the text keyed `key` holds every searched word in its title,
/// never read from counts over the whole index. SQLite: `key` is among the
/// texts matching `title` (from [`push_title`]) that `bound` (` AND ...`
/// on their `rowid`) leaves, an index walk like the search's own;
/// PostgreSQL: the row's title, parsed (`title` is the search's words).
fn title_hit_sql(database: &Database, key: &str, title: Placeholder, bound: &str) -> String {
    match database {
        Database::Sqlite(_) => format!(
            "{key} IN (SELECT rowid FROM ticket_search WHERE ticket_search MATCH {title}{bound})"
        ),
        Database::Postgres(_) => format!(
            "to_tsvector('english', ticket_search.title) @@ plainto_tsquery('english', {title})"
        ),
    }
}

/// The words a [`title_hit_sql`] looks for in titles, of texts holding a
/// word of each of `scope`'s groups: on SQLite added to `args`, on
/// PostgreSQL those of `matched`.
fn push_title(
    database: &Database,
    search: &Search,
    matched: &Match,
    scope: &[Vec<String>],
    args: &mut Args<'_>,
) -> Placeholder {
    match database {
        Database::Sqlite(_) => push_scoped(database, search, Columns::Title, scope, args).text,
        Database::Postgres(_) => matched.text,
    }
}

/// A text's rank key (higher is better) from its `key` and its
/// `title_hit` ([`title_hit_sql`]): texts holding every searched word in
/// their title first, then the newest.
fn rank_key_sql(key: &str, title_hit: &str) -> String {
    format!("({key} + CASE WHEN {title_hit} THEN {TITLE_FIRST} ELSE 0 END)")
}

/// The `FROM` of a list in relevance order: the tickets of the newest
/// [`RANKED_CANDIDATES`] texts `matched` (from [`push_match`]) keyed above
/// `floor` (see [`Windows`]) whose tickets meet `conditions` (SQL
/// over `tickets`, their values pushed after the match), joined as `hits`
/// with `hit_ticket`, `rank_key` (the best of its texts', see
/// [`rank_key_sql`]), `hit_doc` (that text's key, for its snippet) and
/// `ranked` (how many texts were ranked).
pub(crate) fn ranked_sql(
    database: &Database,
    search: &Search,
    matched: &Match,
    conditions: &[String],
    floor: Option<i64>,
    args: &mut Args<'_>,
) -> String {
    let condition = match_condition(database, matched);
    let internal = internal_condition(database, search);
    let mut filters: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    if let Some(floor) = floor {
        // PostgreSQL: the expression its window index holds (migration 0027).
        let key = match database {
            Database::Sqlite(_) => "ticket_search.rowid",
            Database::Postgres(_) => "ticket_search.position + 0",
        };
        filters.push_str(&format!(" AND {key} > {}", args.push(floor)));
    }
    let limit = args.push(RANKED_CANDIDATES);
    let title = push_title(database, search, matched, &[], args);
    match database {
        // CROSS JOIN keeps the texts the outer loop: walked newest first,
        // each looked up in `tickets`, until the limit. The title check
        // walks the title matches no older than the oldest candidate.
        Database::Sqlite(_) => {
            let bound = " AND rowid >= (SELECT MIN(hit_doc) FROM candidates)";
            let rank_key =
                rank_key_sql("hit_doc", &title_hit_sql(database, "hit_doc", title, bound));
            format!(
                "(WITH candidates AS (SELECT ticket_search.ticket_id AS hit_ticket, \
                 ticket_search.rowid AS hit_doc \
                 FROM ticket_search CROSS JOIN tickets ON tickets.id = ticket_search.ticket_id \
                 WHERE {condition}{internal}{filters} \
                 ORDER BY ticket_search.rowid DESC LIMIT {limit}) \
                 SELECT hit_ticket, MAX(rank_key) AS rank_key, hit_doc, \
                 (SELECT COUNT(*) FROM candidates) AS ranked FROM \
                 (SELECT hit_ticket, hit_doc, {rank_key} AS rank_key FROM candidates) \
                 GROUP BY hit_ticket) hits \
                 CROSS JOIN tickets ON tickets.id = hits.hit_ticket"
            )
        }
        // The candidates carry their keys only; their titles are read
        // (and checked) once the limit has kept them. `+ 0`: ordered by
        // the primary key, the planner would walk it newest first testing
        // each text's words, which it expects to stop early; common words
        // spread thin read 400,000 texts that way (400 ms) where the GIN
        // match and a sort of its rows take 30-60 ms.
        Database::Postgres(_) => {
            let key = "ticket_search.position";
            let rank_key = rank_key_sql(key, &title_hit_sql(database, key, title, ""));
            format!(
                "(WITH candidates AS (SELECT ticket_search.position \
                 FROM ticket_search JOIN tickets ON tickets.id = ticket_search.ticket_id \
                 WHERE {condition}{internal}{filters} \
                 ORDER BY ticket_search.position + 0 DESC LIMIT {limit}) \
                 SELECT ticket_search.ticket_id AS hit_ticket, MAX({rank_key}) AS rank_key, \
                 (array_agg(ticket_search.position ORDER BY {rank_key} DESC))[1] AS hit_doc, \
                 (SELECT COUNT(*) FROM candidates) AS ranked \
                 FROM candidates \
                 JOIN ticket_search ON ticket_search.position = candidates.position \
                 GROUP BY ticket_search.ticket_id) hits \
                 JOIN tickets ON tickets.id = hits.hit_ticket"
            )
        }
    }
}

/// How many matching texts a window is sized to hold per text it ranks:
/// room for the texts the list's filters then drop.
const WINDOW_MARGIN: i64 = 3;
/// How much wider each window is than the one before, at least.
const WINDOW_GROWTH: i64 = 4;

/// The windows (keys above a floor) a search in relevance order ranks
/// from, newest positions first, up to `head` (the read model's position):
/// it stops at the first window holding [`RANKED_CANDIDATES`] candidates.
/// Those are then the newest candidates of all, every text outside the
/// window being older, so the answer is the same as ranking from the whole
/// index; the last window reaches below every key.
///
/// Each window is a statement paying the GIN index's match again (11-28 ms
/// for two common words at a million tickets), so an unscoped search on
/// PostgreSQL asks the planner first how many texts match (its statistics
/// of the index's words) and sizes one window to hold [`WINDOW_MARGIN`]
/// times the texts it ranks, or ranks from the whole index when that window
/// would span half of it. The window's range comes from a BRIN index
/// (migration 0027): only the GIN match's texts in its pages are read. Two
/// words matching 9,493 texts, load average 5.8: 37-41 ms in a window of
/// 600,000 positions, 98 ms from the whole index (every match's row read
/// and sorted), 117-205 ms in the same window taken from the primary key.
///
/// SQLite ranks from one window, the whole index: FTS5 walks its doclists
/// newest first and stops at the limit already (the newest 500 open texts
/// of two common words at a million tickets: 7 ms with or without a floor).
/// So does a scoped search on PostgreSQL (an agent's, a customer's, one
/// filtered by team or company): its scope words already narrow the GIN
/// match to the scope's texts, and a first window was mostly wasted work
/// (p99 60-64 ms with windows against 45 ms without, a million tickets).
#[derive(Debug)]
pub(crate) struct Windows {
    head: i64,
    width: i64,
}

impl Windows {
    /// The windows of `search` for `filter` up to `head`, read in `tx`.
    pub(crate) async fn plan(
        database: &Database,
        tx: &mut ReadModelTx<'_>,
        search: &Search,
        filter: &TicketFilter,
        head: i64,
    ) -> Result<Self, sqlx::Error> {
        match database {
            Database::Postgres(_) if scope::required(filter).is_empty() => {
                let estimate = estimated_matches(database, tx, search).await?;
                Ok(Self::sized_for(head, estimate))
            }
            _ => Ok(Self::whole(head)),
        }
    }

    /// One window: the whole index.
    fn whole(head: i64) -> Self {
        Self {
            head,
            width: head.max(1),
        }
    }

    /// The window expected to hold [`WINDOW_MARGIN`] times the ranked texts
    /// when `estimate` texts match up to `head`, or the whole index when
    /// that window would span half of it.
    fn sized_for(head: i64, estimate: Option<i64>) -> Self {
        let Some(estimate) = estimate.filter(|estimate| *estimate > 0) else {
            return Self::whole(head);
        };
        let width = head.saturating_mul(RANKED_CANDIDATES * WINDOW_MARGIN) / estimate;
        if width.saturating_mul(2) >= head {
            return Self::whole(head);
        }
        Self {
            head,
            width: width.max(1),
        }
    }

    /// The key the texts of the current window are above; `None` once it
    /// reaches below every key, so that the statement has no bound (a plan
    /// PostgreSQL kept for a bound would AND the whole primary key's range).
    pub(crate) fn floor(&self) -> Option<i64> {
        (self.width < self.head).then_some(self.head - self.width)
    }

    /// Widens the window after it held `ranked` candidates to one sized as
    /// [`Windows::sized_for`] the density it found, at least
    /// [`WINDOW_GROWTH`] times wider: a window that held none goes to the
    /// whole index. False when the window reached below every key already.
    pub(crate) fn widen(&mut self, ranked: i64) -> bool {
        if self.width >= self.head {
            return false;
        }
        let estimate = ranked.saturating_mul(self.head) / self.width;
        let sized = Self::sized_for(self.head, Some(estimate));
        self.width = sized
            .width
            .max(self.width.saturating_mul(WINDOW_GROWTH))
            .min(self.head);
        true
    }
}

/// PostgreSQL's estimate of how many texts match `search` (the planner's
/// rows for the match alone, from its statistics of the index's words);
/// `None` when the plan does not say.
async fn estimated_matches(
    database: &Database,
    tx: &mut ReadModelTx<'_>,
    search: &Search,
) -> Result<Option<i64>, sqlx::Error> {
    let mut args = Args::for_tx(tx);
    let matched = push_scoped(database, search, Columns::Text, &[], &mut args);
    let condition = match_condition(database, &matched);
    let internal = internal_condition(database, search);
    let sql =
        format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM ticket_search WHERE {condition}{internal}");
    let plans: Vec<(sqlx::types::Json<serde_json::Value>,)> = fetch_in_tx(tx, &sql, &args).await?;
    Ok(plans.first().and_then(|(plan,)| {
        let rows = plan.0.get(0)?.get("Plan")?.get("Plan Rows")?.as_f64()?;
        Some(rows as i64)
    }))
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
    let (text, chosen, best_first) = match texts {
        Texts::OfTickets([]) | Texts::Keyed([]) => return Ok(HashMap::new()),
        Texts::OfTickets(tickets) => of_tickets(database, search, tickets, &mut args),
        Texts::Keyed(keys) => {
            let text = push_scoped(database, search, Columns::Text, &[], &mut args).text;
            (
                text,
                keyed_condition(database, keys, &mut args),
                String::new(),
            )
        }
    };
    let internal = internal_condition(database, search);
    let sql = match database {
        Database::Sqlite(_) => format!(
            "SELECT ticket_id, snippet(ticket_search, -1, {start}, {end}, '…', 16) \
             FROM ticket_search WHERE ticket_search MATCH {text}{chosen}{internal}{best_first}"
        ),
        Database::Postgres(_) => format!(
            "SELECT ticket_id, ts_headline('english', title || ' ' || body, matched, \
             'StartSel=' || {start} || ', StopSel=' || {end} || ', MaxWords=24, MinWords=8, MaxFragments=1') \
             FROM ticket_search, plainto_tsquery('english', {text}) AS matched \
             WHERE document @@ matched{chosen}{internal}{best_first}"
        ),
    };
    let rows: Vec<(String, String)> = fetch(database, &sql, &args).await?;
    let mut best = HashMap::new();
    for (ticket, snippet) in rows {
        best.entry(ticket).or_insert_with(|| marked(&snippet));
    }
    Ok(best)
}

/// The ` AND ...` choosing the texts keyed `keys` (not empty). FTS5 given
/// the keys would seek each in every word's doclist afresh: 11-13 ms of CPU
/// for a page's 50 texts of two common words at a million tickets. So on
/// SQLite the match walks the doclists between the lowest and the highest
/// key (a range FTS5 takes) and the keys are kept from those (`+` leaves
/// the list to SQLite): 0.8 ms.
fn keyed_condition(database: &Database, keys: &[i64], args: &mut Args<'_>) -> String {
    match database {
        Database::Sqlite(_) => {
            let low = keys.iter().copied().min().unwrap_or_default();
            let high = keys.iter().copied().max().unwrap_or_default();
            format!(
                " AND ticket_search.rowid BETWEEN {} AND {} AND +ticket_search.rowid IN ({})",
                args.push(low),
                args.push(high),
                args.push_set(keys.iter().copied())
            )
        }
        Database::Postgres(_) => format!(
            " AND ticket_search.position IN ({})",
            args.push_set(keys.iter().copied())
        ),
    }
}

/// The match, the ` AND ...` choosing the texts of `tickets` and the
/// ` ORDER BY` putting each one's best first, for [`snippets`]. SQLite
/// finds a ticket's texts by its scope word (`ticket_id` is not indexed).
fn of_tickets<'a>(
    database: &Database,
    search: &Search,
    tickets: &'a [String],
    args: &mut Args<'a>,
) -> (Placeholder, String, String) {
    let key = format!("ticket_search.{}", key_of(database));
    match database {
        Database::Sqlite(_) => {
            let own = [tickets
                .iter()
                .map(|ticket| scope::word(scope::Kind::Ticket, ticket))
                .collect()];
            let matched = push_scoped(database, search, Columns::Text, &own, args);
            let title = push_title(database, search, &matched, &own, args);
            let best = rank_key_sql(&key, &title_hit_sql(database, &key, title, ""));
            (
                matched.text,
                String::new(),
                format!(" ORDER BY {best} DESC"),
            )
        }
        Database::Postgres(_) => {
            let matched = push_scoped(database, search, Columns::Text, &[], args);
            let chosen = format!(
                " AND ticket_search.ticket_id IN ({})",
                args.push_set(tickets.iter().map(String::as_str))
            );
            let title = push_title(database, search, &matched, &[], args);
            let best = rank_key_sql(&key, &title_hit_sql(database, &key, title, ""));
            (matched.text, chosen, format!(" ORDER BY {best} DESC"))
        }
    }
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

    /// The floors a search goes through when each window holds `found`.
    /// (`0` for the whole index.)
    fn floors(mut windows: Windows, found: i64) -> Vec<i64> {
        let mut floors = vec![windows.floor().unwrap_or_default()];
        while windows.widen(found) {
            floors.push(windows.floor().unwrap_or_default());
        }
        floors
    }

    #[test]
    fn a_window_is_sized_for_the_estimate_or_is_the_whole_index() {
        let head = 4_332_692;
        let whole = |estimate| Windows::sized_for(head, estimate).floor().is_none();
        assert!(whole(None), "no estimate");
        assert!(whole(Some(0)));
        assert!(whole(Some(3_000)), "a window would span half the index");
        assert!(!whole(Some(3_001)));
        let window = Windows::sized_for(head, Some(100_000));
        assert_eq!(
            window.width,
            head * 1_500 / 100_000,
            "1,500 matches expected"
        );
        assert!(
            Windows::sized_for(0, Some(10)).floor().is_none(),
            "an empty index"
        );
    }

    #[test]
    fn windows_widen_to_below_every_key() {
        for head in [0, 1, 63, 64, 65, 127, 1_000, 4_332_675] {
            for estimate in [1, 1_000, 20_000, 400_000, head] {
                for found in [0, 120, 400, 499] {
                    let floors = floors(Windows::sized_for(head, Some(estimate)), found);
                    assert!(floors.windows(2).all(|pair| pair[1] < pair[0]));
                    assert!(*floors.last().unwrap() <= 0, "{head}: {floors:?}");
                    assert!(floors[0] < head.max(1), "the newest text is in the first");
                }
            }
        }
        let head = 4_000_000;
        let first = || Windows::sized_for(head, Some(100_000));
        assert_eq!(floors(first(), 0), [3_940_000, 0], "none found: whole");
        assert_eq!(
            floors(first(), 400),
            [3_940_000, 3_760_000, 3_040_000, 0],
            "four times wider, then whole once a window would span half of it"
        );
        assert_eq!(
            floors(Windows::sized_for(head, Some(head)), 499),
            [
                3_998_500, 3_994_000, 3_976_000, 3_904_000, 3_616_000, 2_464_000, 0
            ],
            "a word in every text"
        );
        assert_eq!(floors(Windows::whole(head), 400), [0], "one window");
    }

    #[test]
    fn snippets_are_escaped_and_marked() {
        assert_eq!(
            marked("<b>\u{E000}printer\u{E001}</b> & 'co'"),
            "&lt;b&gt;<mark>printer</mark>&lt;/b&gt; &amp; &#39;co&#39;"
        );
    }
}
