//! Exact decimal numbers for metrics, thresholds and their differences.
//!
//! Metrics are written in decimal, and gates compare them at thresholds written in decimal: in
//! binary floating point `1e-20` and `3e-20` differ by nothing once rounded for display, two
//! integers past 2^53 are one number, and `0.842 - 0.832` exceeds `0.01`. Here every value
//! is the decimal it was written as (an arbitrary-precision integer and a power of ten), and
//! subtraction and comparison are exact at any magnitude.

use std::cmp::Ordering;
use std::fmt;

use bigdecimal::num_bigint::BigInt;
use bigdecimal::{BigDecimal, RoundingMode, Signed, Zero};

/// The largest power of ten a metric may be written with (`1e4096`, `1e-4096`). Far past any
/// float (f64 ends near 1e308 and 1e-324), and small enough that aligning two numbers for a
/// subtraction never needs more than a few thousand digits: `1e-99999999999` is refused
/// rather than expanded into a hundred billion digits.
pub const MAX_EXPONENT: i64 = 4096;

/// An exact decimal number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decimal(BigDecimal);

/// Why a text is not a [`Decimal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotANumber {
    /// Not a decimal number at all (`n/a`, `.nan`, `0x1F`).
    Syntax,
    /// A number whose power of ten is past [`MAX_EXPONENT`].
    OutOfRange,
}

impl fmt::Display for NotANumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotANumber::Syntax => formatter.write_str("not a decimal number"),
            NotANumber::OutOfRange => write!(
                formatter,
                "a number past 10^±{MAX_EXPONENT}, beyond what mlops reads as one"
            ),
        }
    }
}

impl Decimal {
    /// The number written as `text`: an optional sign, digits with an optional point, and an
    /// optional exponent (`0.830`, `-1.5E+3`, `.5`, `7.`), as JSON, YAML 1.2 and TOML write
    /// decimals (TOML's `_` separators included).
    ///
    /// # Errors
    /// The text is not such a number, or its exponent is past [`MAX_EXPONENT`].
    pub fn parse(text: &str) -> Result<Decimal, NotANumber> {
        let text = text.trim();
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
            None => (unsigned, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digit_run = |part: &str| {
            part.bytes()
                .all(|byte| byte.is_ascii_digit() || byte == b'_')
        };
        if whole.is_empty() && fraction.is_empty()
            || !digit_run(whole)
            || !digit_run(fraction)
            || whole.starts_with('_')
            || whole.ends_with('_')
            || fraction.starts_with('_')
            || fraction.ends_with('_')
        {
            return Err(NotANumber::Syntax);
        }
        let digits: String = whole
            .chars()
            .chain(fraction.chars())
            .filter(char::is_ascii_digit)
            .collect();
        let significant = digits.trim_start_matches('0');
        let exponent = match exponent {
            None => 0,
            Some(written) => {
                let magnitude = written.strip_prefix(['+', '-']).unwrap_or(written);
                if magnitude.is_empty() || !magnitude.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(NotANumber::Syntax);
                }
                let magnitude = magnitude.trim_start_matches('0');
                if significant.is_empty() {
                    // Zero is zero whatever its exponent.
                    0
                } else {
                    // A long exponent is out of range whatever its digits.
                    let magnitude: i64 = if magnitude.is_empty() {
                        0
                    } else {
                        magnitude.parse().map_err(|_| NotANumber::OutOfRange)?
                    };
                    if magnitude > MAX_EXPONENT * 4 {
                        return Err(NotANumber::OutOfRange);
                    }
                    if written.starts_with('-') {
                        -magnitude
                    } else {
                        magnitude
                    }
                }
            }
        };
        if significant.is_empty() {
            return Ok(Decimal(BigDecimal::zero()));
        }
        let fraction_digits = fraction.bytes().filter(u8::is_ascii_digit).count();
        let scale = i64::try_from(fraction_digits).map_err(|_| NotANumber::OutOfRange)? - exponent;
        let integer: BigInt = significant.parse().map_err(|_| NotANumber::Syntax)?;
        let value = Decimal(BigDecimal::new(
            if negative { -integer } else { integer },
            scale,
        ));
        if value.magnitude().abs() > MAX_EXPONENT {
            return Err(NotANumber::OutOfRange);
        }
        Ok(value)
    }

    /// An integer.
    #[must_use]
    pub fn from_integer(value: impl Into<BigInt>) -> Decimal {
        Decimal(BigDecimal::new(value.into(), 0))
    }

    /// The decimal a float was written as: its shortest text that reads back as the same
    /// float (`0.01`, not `0.01000000000000000020816681711721685`). Thresholds in the config
    /// are read as floats, and this gives back what was written there (up to 15 significant
    /// digits; a float holds no more). `None` for infinities and NaN.
    #[must_use]
    pub fn from_f64(value: f64) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        Decimal::parse(&format!("{value:e}")).ok()
    }

    /// The power of ten of the leading digit (`1234` -> 3, `0.05` -> -2; 0 for zero).
    fn magnitude(&self) -> i64 {
        if self.0.is_zero() {
            return 0;
        }
        let (integer, scale) = self.0.as_bigint_and_exponent();
        let digits = i64::try_from(integer.magnitude().to_string().len()).unwrap_or(i64::MAX);
        digits - 1 - scale
    }

    /// Whether it is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Whether it is below zero.
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.0.is_negative()
    }

    /// Its absolute value.
    #[must_use]
    pub fn abs(&self) -> Decimal {
        Decimal(self.0.abs())
    }

    /// `self - other`, exactly.
    #[must_use]
    pub fn minus(&self, other: &Decimal) -> Decimal {
        Decimal(&self.0 - &other.0)
    }

    /// `self * other`, exactly.
    #[must_use]
    pub fn times(&self, other: &Decimal) -> Decimal {
        Decimal(&self.0 * &other.0)
    }

    /// `self / other * 100`, rounded half away from zero to `places` decimals; `None` when
    /// `other` is zero. For display only: rules compare percentages by multiplying instead.
    #[must_use]
    pub fn percent_of(&self, other: &Decimal, places: i64) -> Option<Decimal> {
        if other.is_zero() {
            return None;
        }
        // In integers: a / b * 100 * 10^places = (ai * 100 * 10^(places + bs)) / (bi * 10^as)
        // for a = ai * 10^-as and b = bi * 10^-bs; the exponents are bounded (MAX_EXPONENT),
        // so the powers of ten stay a few thousand digits at worst.
        let (a, a_scale) = self.0.as_bigint_and_exponent();
        let (b, b_scale) = other.0.as_bigint_and_exponent();
        let ten = |power: i64| BigInt::from(10).pow(u32::try_from(power).unwrap_or(0));
        let shift = places + b_scale - a_scale;
        let (mut numerator, mut denominator) = (a * BigInt::from(100), b);
        if shift >= 0 {
            numerator *= ten(shift);
        } else {
            denominator *= ten(-shift);
        }
        let negative = numerator.is_negative() != denominator.is_negative();
        let (numerator, denominator) = (numerator.abs(), denominator.abs());
        // Half away from zero: floor((2n + d) / 2d).
        let two = BigInt::from(2);
        let rounded = (&numerator * &two + &denominator) / (&denominator * &two);
        Some(Decimal(BigDecimal::new(
            if negative { -rounded } else { rounded },
            places,
        )))
    }

    /// Rounded half away from zero to `places` significant digits (`0.000123456` -> `0.00012`
    /// at 2).
    #[must_use]
    pub fn significant(&self, places: i64) -> Decimal {
        if self.is_zero() {
            return self.clone();
        }
        let scale = places - 1 - self.magnitude();
        Decimal(self.0.with_scale_round(scale, RoundingMode::HalfUp))
    }

    /// Compares magnitudes: `|self|` against `|other|`.
    #[must_use]
    pub fn cmp_abs(&self, other: &Decimal) -> Ordering {
        self.0.abs().cmp(&other.0.abs())
    }
}

/// The exact value in its shortest form, as JSON accepts it: no trailing zeros, plain
/// notation while that needs at most six zeros after the point or twenty before it
/// (`0.01`, `-3`, `123456789012345678901234`), scientific past that (`2e-20`, `1.5e+40`).
impl fmt::Display for Decimal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return formatter.write_str("0");
        }
        let (integer, scale) = self.0.normalized().as_bigint_and_exponent();
        let sign = if integer.is_negative() { "-" } else { "" };
        let digits = integer.magnitude().to_string();
        let length = i64::try_from(digits.len()).unwrap_or(i64::MAX);
        // Digits before the point.
        let point = length - scale;
        let plain = if scale <= 0 {
            (-scale <= 20).then(|| {
                format!(
                    "{digits}{}",
                    "0".repeat(usize::try_from(-scale).unwrap_or(0))
                )
            })
        } else if point > 0 {
            let at = usize::try_from(point).unwrap_or(0);
            Some(format!("{}.{}", &digits[..at], &digits[at..]))
        } else if -point <= 6 {
            Some(format!(
                "0.{}{digits}",
                "0".repeat(usize::try_from(-point).unwrap_or(0))
            ))
        } else {
            None
        };
        if let Some(plain) = plain {
            return write!(formatter, "{sign}{plain}");
        }
        let exponent = point - 1;
        let sign_of_exponent = if exponent < 0 { "-" } else { "+" };
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        write!(
            formatter,
            "{sign}{first}{rest}e{sign_of_exponent}{}",
            exponent.abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Decimal, MAX_EXPONENT, NotANumber};

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn reads_every_decimal_form_exactly() {
        assert_eq!(d("0.830"), d("0.83"));
        assert_eq!(d("-1.5E+3").to_string(), "-1500");
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("7.").to_string(), "7");
        assert_eq!(d("+2e-20").to_string(), "2e-20");
        assert_eq!(d("1_000.000_1").to_string(), "1000.0001");
        assert_eq!(d("-0.0"), d("0"));
        assert_eq!(
            d("123456789012345678901234").to_string(),
            "123456789012345678901234"
        );
    }

    #[test]
    fn refuses_what_is_not_a_decimal() {
        for text in [
            "", "-", ".", "e5", "1e", "1e+", "0x1F", "1.2.3", "n/a", ".nan", "1__0e", "_1",
        ] {
            assert_eq!(Decimal::parse(text), Err(NotANumber::Syntax), "{text}");
        }
        assert_eq!(
            Decimal::parse("1e-99999999999999999999999"),
            Err(NotANumber::OutOfRange)
        );
        assert_eq!(
            Decimal::parse(&format!("1e{}", MAX_EXPONENT + 1)),
            Err(NotANumber::OutOfRange)
        );
        assert!(Decimal::parse(&format!("1e{MAX_EXPONENT}")).is_ok());
        // Zero is zero whatever its exponent.
        assert!(d("0e-99999").is_zero());
    }

    #[test]
    fn differences_are_exact_at_any_magnitude() {
        assert_eq!(d("3e-20").minus(&d("1e-20")).to_string(), "2e-20");
        assert_eq!(
            d("9007199254740996")
                .minus(&d("9007199254740993"))
                .to_string(),
            "3"
        );
        assert_eq!(
            d("123456789012345678901235")
                .minus(&d("123456789012345678901234"))
                .to_string(),
            "1"
        );
        assert_eq!(d("0.842").minus(&d("0.832")), d("0.01"));
        // 1e300 - 1e-300 is 601 digits: kept, not rounded to 1e300.
        let gap = d("1e300").minus(&d("1e-300"));
        assert_ne!(gap, d("1e300"));
        assert_eq!(d("1e300").minus(&gap), d("1e-300"));
    }

    #[test]
    fn floats_give_back_their_shortest_text() {
        assert_eq!(Decimal::from_f64(0.01).unwrap().to_string(), "0.01");
        assert_eq!(Decimal::from_f64(1e-20).unwrap().to_string(), "1e-20");
        assert_eq!(Decimal::from_f64(120.0).unwrap().to_string(), "120");
        assert_eq!(Decimal::from_f64(f64::NAN), None);
    }

    #[test]
    fn percentages_round_half_away_from_zero() {
        assert_eq!(d("1").percent_of(&d("3"), 2).unwrap().to_string(), "33.33");
        assert_eq!(
            d("-2").percent_of(&d("3"), 2).unwrap().to_string(),
            "-66.67"
        );
        assert_eq!(d("1").percent_of(&d("0"), 2), None);
        assert_eq!(d("0.000123456").significant(2).to_string(), "0.00012");
    }

    #[test]
    fn prints_plain_while_short_and_scientific_past_that() {
        assert_eq!(d("0.000001").to_string(), "0.000001");
        assert_eq!(d("0.0000001").to_string(), "0.0000001");
        assert_eq!(d("0.00000001").to_string(), "1e-8");
        assert_eq!(d("1.5e40").to_string(), "1.5e+40");
        assert_eq!(d("1e20").to_string(), "100000000000000000000");
        assert_eq!(d("-12.50").to_string(), "-12.5");
    }
}
