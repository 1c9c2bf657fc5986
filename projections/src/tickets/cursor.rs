//! Opaque page cursors: where a page ended in its sort order. A cursor holds the sort it was
//! issued for, the last row's sort key (an integer, or text for the text sorts) and its
//! `created_position` (unique per ticket, the tie-breaker), as hex text so it travels in a query
//! string untouched. The text key may hold any character, so it is read as everything between
//! the direction and the last `.`; cursors of the integer sorts read as they always did.

use std::fmt::{self, Write};
use std::num::ParseIntError;

use super::filter::{Direction, Sort, SortField};

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("malformed cursor")]
    Malformed,
    #[error("the cursor continues a list sorted by {issued}, not by {requested}")]
    OtherSort { issued: Sort, requested: Sort },
}

/// Format version, so a changed layout is refused rather than misread.
const VERSION: &str = "t1";

/// A row's key in its sort order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SortKey {
    Number(i64),
    Text(String),
}

impl SortKey {
    /// The key of a `field` order from its text form, the way both a cursor and a listed row
    /// carry it.
    pub(super) fn parse(field: SortField, text: &str) -> Result<Self, ParseIntError> {
        if field.has_text_key() {
            Ok(Self::Text(text.to_owned()))
        } else {
            text.parse().map(Self::Number)
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

/// The position after which a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cursor {
    pub(super) sort: Sort,
    pub(super) key: SortKey,
    pub(super) created_position: i64,
}

impl Cursor {
    /// The cursor after the row with sort `key` and `created_position`.
    pub(super) fn after(sort: Sort, key: SortKey, created_position: i64) -> Self {
        Self {
            sort,
            key,
            created_position,
        }
    }

    pub(super) fn encode(&self) -> String {
        let text = format!(
            "{VERSION}.{}.{}.{}.{}",
            self.sort.field.as_str(),
            self.sort.direction.as_str(),
            self.key,
            self.created_position
        );
        text.bytes().fold(String::new(), |mut hex, byte| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    }

    /// Reads a cursor issued for `requested`.
    pub(super) fn decode(cursor: &str, requested: Sort) -> Result<Self, CursorError> {
        let decoded = Self::parse(cursor).ok_or(CursorError::Malformed)?;
        if decoded.sort != requested {
            return Err(CursorError::OtherSort {
                issued: decoded.sort,
                requested,
            });
        }
        Ok(decoded)
    }

    fn parse(cursor: &str) -> Option<Self> {
        let text = String::from_utf8(unhex(cursor)?).ok()?;
        let mut parts = text.splitn(4, '.');
        let mut next = || parts.next();
        if next()? != VERSION {
            return None;
        }
        let field = named(&SortField::ALL, next()?, |field| field.as_str())?;
        let direction = named(&Direction::ALL, next()?, |direction| direction.as_str())?;
        let (key, created_position) = next()?.rsplit_once('.')?;
        let key = SortKey::parse(field, key).ok()?;
        let created_position = created_position.parse().ok()?;
        Some(Self {
            sort: Sort::new(field, direction),
            key,
            created_position,
        })
    }
}

fn named<T: Copy>(all: &[T], name: &str, name_of: impl Fn(T) -> &'static str) -> Option<T> {
    all.iter().copied().find(|value| name_of(*value) == name)
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|start| u8::from_str_radix(&hex[start..start + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written() {
        for field in SortField::ALL {
            for direction in Direction::ALL {
                let sort = Sort::new(field, direction);
                let key = if field.has_text_key() {
                    SortKey::Text("Ünïcode. with dots.42".into())
                } else {
                    SortKey::Number(-3)
                };
                let cursor = Cursor::after(sort, key, 42);
                assert_eq!(Cursor::decode(&cursor.encode(), sort), Ok(cursor));
            }
        }
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let good = Cursor::after(Sort::default(), SortKey::Number(7), 7).encode();
        let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for bad in [
            String::new(),
            "zz".into(),
            "abc".into(),
            "é".into(),
            good[..good.len() - 2].to_string(),
            format!("{good}2e39"),
            hex("t0.created.desc.7.7"),
            hex("t1.created.sideways.7.7"),
            hex("t1.created.desc.seven.7"),
            hex("t1.created.desc.7"),
            hex("t1.created.desc.7.7.7"),
            hex("t1.created.desc.7.seven"),
        ] {
            assert_eq!(
                Cursor::decode(&bad, Sort::default()),
                Err(CursorError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_cursor_only_continues_its_own_sort() {
        let issued = Sort::new(SortField::Updated, Direction::Asc);
        let cursor = Cursor::after(issued, SortKey::Number(1), 1);
        let requested = Sort::new(SortField::Updated, Direction::Desc);
        assert_eq!(
            Cursor::decode(&cursor.encode(), requested),
            Err(CursorError::OtherSort { issued, requested })
        );
    }

    #[test]
    fn a_cursor_of_an_integer_sort_reads_as_before_text_keys() {
        let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let sort = Sort::new(SortField::Priority, Direction::Desc);
        assert_eq!(
            Cursor::decode(&hex("t1.priority.desc.3.12"), sort),
            Ok(Cursor::after(sort, SortKey::Number(3), 12))
        );
        let title = Sort::new(SortField::Title, Direction::Asc);
        assert_eq!(
            Cursor::decode(&hex("t1.title.asc.3.12"), title),
            Ok(Cursor::after(title, SortKey::Text("3".into()), 12))
        );
    }
}
