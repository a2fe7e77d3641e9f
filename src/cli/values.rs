//! Parsers for command-line values, holding them to the rules the same values meet in a
//! recipe: a learning rate is a positive, finite number; counts such as `--limit` and
//! `--top` are at least 1 (0 is not a shorthand for "all").

/// A positive, finite number (the recipe's `lr` rule).
pub fn positive_number(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("expected a positive number, got `{s}`"))?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("must be a positive, finite number, got `{s}`"))
    }
}

/// A count of at least 1.
pub fn positive_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a positive integer, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rates_must_be_positive_and_finite() {
        assert_eq!(positive_number("0.1"), Ok(0.1));
        for bad in ["0", "-0.1", "nan", "inf", "x"] {
            assert!(positive_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_must_be_at_least_one() {
        assert_eq!(positive_count("3"), Ok(3));
        for bad in ["0", "-1", "x"] {
            assert!(positive_count(bad).is_err(), "{bad}");
        }
    }
}
