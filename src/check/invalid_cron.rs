#![doc = include_str!("../../docs/codes/invalid-cron.md")]

use std::ops::Range;

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;

/// `refresh` must be a 5-field cron expression as GitHub's `schedule` accepts it.
///
/// Written by hand rather than with a cron crate: the crates accept extensions (seconds,
/// `L`, `W`, `#`, `?`) that GitHub rejects, and the schedule is emitted into GitHub's workflow.
pub struct InvalidCron;

const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    (
        "day of week",
        0,
        6,
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    ),
];

/// A problem in a cron expression: what, and which bytes of the expression.
#[derive(Debug, PartialEq, Eq)]
pub struct CronError {
    /// The message.
    pub message: String,
    /// Byte range within the expression.
    pub range: Range<usize>,
}

/// Check a 5-field cron expression (minute hour day-of-month month day-of-week).
///
/// # Errors
/// The first problem found, with the byte range of the offending field.
pub fn check_cron(expression: &str) -> Result<(), CronError> {
    let fields: Vec<(usize, &str)> = expression
        .split(' ')
        .scan(0usize, |offset, field| {
            let start = *offset;
            *offset += field.len() + 1;
            Some((start, field))
        })
        .filter(|(_, field)| !field.is_empty())
        .collect();
    if fields.len() != 5 {
        return Err(CronError {
            message: format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week); this has {}",
                fields.len()
            ),
            range: 0..expression.len(),
        });
    }
    for (&(start, field), &(name, low, high, names)) in fields.iter().zip(FIELDS.iter()) {
        if let Err(reason) = check_field(field, low, high, names) {
            return Err(CronError {
                message: format!("{name} field `{field}`: {reason}"),
                range: start..start + field.len(),
            });
        }
    }
    Ok(())
}

fn check_field(field: &str, low: u32, high: u32, names: &[&str]) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(step) if step >= 1 && step <= high.max(1) => {}
                _ => {
                    return Err(format!(
                        "step `{step}` must be a number from 1 to {}",
                        high.max(1)
                    ));
                }
            }
        }
        if range == "*" {
            continue;
        }
        let (first, last) = match range.split_once('-') {
            Some((first, last)) => (
                value(first, low, high, names)?,
                Some(value(last, low, high, names)?),
            ),
            None => (value(range, low, high, names)?, None),
        };
        if let Some(last) = last
            && last < first
        {
            return Err(format!("range `{range}` runs backwards"));
        }
    }
    Ok(())
}

fn value(text: &str, low: u32, high: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(position) = names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        return Ok(low + u32::try_from(position).unwrap_or(0));
    }
    match text.parse::<u32>() {
        Ok(number) if (low..=high).contains(&number) => Ok(number),
        Ok(number) => Err(format!("{number} is outside {low}-{high}")),
        Err(_) if text.is_empty() => Err("empty value".to_owned()),
        Err(_) => Err(format!("`{text}` is not a number from {low} to {high}")),
    }
}

impl Rule for InvalidCron {
    fn code(&self) -> Code {
        Code::InvalidCron
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (name, data) in &cx.config.data {
            let Some(refresh) = &data.refresh else {
                continue;
            };
            let Err(error) = check_cron(refresh) else {
                continue;
            };
            let pointer = format!("/data/{}/refresh", escape_pointer_token(name));
            out.push(
                Diag::error(
                    Code::InvalidCron,
                    format!("invalid `refresh` schedule of data set `{name}`: {}", error.message),
                    cx.substring_label(&pointer, refresh, error.range, "invalid here"),
                )
                .with_help("use 5 fields, minute hour day-of-month month day-of-week, in UTC: e.g. \"0 3 * * 1\" is Mondays at 03:00"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_cron;

    #[test]
    fn accepts_what_github_accepts() {
        for good in [
            "0 3 * * 1",
            "*/15 * * * *",
            "0 0 1,15 * MON-FRI",
            "30 2 * JAN-MAR 0",
            "5-10/2 * * * *",
        ] {
            assert_eq!(check_cron(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn rejects_with_the_offending_field() {
        let error = check_cron("0 24 * * *").unwrap_err();
        assert_eq!(error.range, 2..4);
        assert!(error.message.contains("hour"), "{}", error.message);
        assert!(check_cron("0 3 * *").is_err());
        assert!(check_cron("0 0 0 * * *").is_err());
        assert!(check_cron("*/0 * * * *").is_err());
        assert!(check_cron("0 0 * * 7").is_err());
        assert!(check_cron("0 0 L * *").is_err());
        assert!(check_cron("10-5 * * * *").is_err());
    }
}
