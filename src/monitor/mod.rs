//! The monitoring path, run on a schedule against a served model: `collect` turns the logs
//! KServe's logger wrote into the table Evidently compares with the reference, and `judge`
//! turns Evidently's snapshot into a verdict with the gate engine.

pub mod collect;
pub mod judge;
pub mod performance;

/// Seconds since the Unix epoch of an RFC 3339 time (`2026-12-01T06:00:00.123456789Z`,
/// `2026-12-01T07:00:00+01:00`), as Go writes `time.Time`; `None` when it is not one.
#[must_use]
pub fn unix_seconds(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| number_in(text, range);
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (number_in(rest, 1..3)? * 3600 + number_in(rest, 4..6)? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn number_in(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = text.get(range)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())?
}

/// A window as the config writes it (`7d`, `24h`), in seconds.
#[must_use]
pub fn window_seconds(window: &str) -> Option<i64> {
    let (number, unit) = window.split_at(window.len().checked_sub(1)?);
    let number: i64 = number.parse().ok().filter(|number| *number > 0)?;
    match unit {
        "h" => Some(number * 3600),
        "d" => Some(number * 86_400),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{unix_seconds, window_seconds};

    #[test]
    fn reads_the_times_go_writes() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2026-12-01T06:00:00Z"), Some(1_796_104_800));
        assert_eq!(
            unix_seconds("2026-12-01T06:00:00.123456789Z"),
            Some(1_796_104_800)
        );
        assert_eq!(
            unix_seconds("2026-12-01T07:00:00+01:00"),
            Some(1_796_104_800)
        );
        assert_eq!(unix_seconds("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-12-01",
            "2026-12-01T06:00:00",
            "2026-12-01T06:00:00.Z",
            "yesterday",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_windows() {
        assert_eq!(window_seconds("7d"), Some(604_800));
        assert_eq!(window_seconds("24h"), Some(86_400));
        assert_eq!(window_seconds("0d"), None);
        assert_eq!(window_seconds("7w"), None);
        assert_eq!(window_seconds(""), None);
    }
}
