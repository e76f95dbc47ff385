//! Money in PLN, exact to the grosz (budgets are `numeric(12, 2)`).

use std::fmt;

/// An amount in PLN, held in grosze so arithmetic is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pln {
    /// The amount in grosze (1/100 PLN).
    pub grosze: i64,
}

/// A text that is not an amount (the text itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an amount of money with at most two decimals")]
pub struct BadAmount(pub String);

impl Pln {
    /// The amount of `grosze` (1/100 PLN).
    pub const fn from_grosze(grosze: i64) -> Self {
        Pln { grosze }
    }

    /// Parses Postgres' text form of a `numeric`: `150`, `150.5`, `150.50`.
    pub fn from_decimal_str(text: &str) -> Result<Self, BadAmount> {
        let bad = || BadAmount(text.to_owned());
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || fraction.len() > 2 || !all_digits(whole) || !all_digits(fraction) {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
        let grosze = whole.checked_mul(100).and_then(|g| g.checked_add(fraction)).ok_or_else(bad)?;
        Ok(Pln { grosze: if negative { -grosze } else { grosze } })
    }
}

impl fmt::Display for Pln {
    /// `150.00`, `-0.05`: always two decimals, no currency sign.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.grosze < 0 { "-" } else { "" };
        let abs = self.grosze.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numeric_text() {
        assert_eq!(Pln::from_decimal_str("150"), Ok(Pln::from_grosze(15000)));
        assert_eq!(Pln::from_decimal_str("150.5"), Ok(Pln::from_grosze(15050)));
        assert_eq!(Pln::from_decimal_str("0.07"), Ok(Pln::from_grosze(7)));
        assert_eq!(Pln::from_decimal_str("-1.20"), Ok(Pln::from_grosze(-120)));
        for bad in ["", ".5", "1.234", "1,5", "abc", "99999999999999999999"] {
            assert!(Pln::from_decimal_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Pln::from_grosze(15000).to_string(), "150.00");
        assert_eq!(Pln::from_grosze(7).to_string(), "0.07");
        assert_eq!(Pln::from_grosze(-5).to_string(), "-0.05");
    }
}
