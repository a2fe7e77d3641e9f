//! The bound on tensor sizes: no tensor the elaborator makes holds more than
//! [`MAX_ELEMENTS`] elements (per example, for batched tensors).
//!
//! Kernels index tensors with 32-bit integers (i32 offsets where padding makes them
//! negative), so a larger tensor cannot run anywhere; and without a bound, sizes a user
//! can write (`conv(1000000000, k = 3)`, `pad = 1000000000`) reach `netc init` as
//! allocations of terabytes, or as counts past `u64::MAX`. Checking every type as it is
//! made reports them at the user's call instead. With every tensor bounded and at most
//! 200,000 nodes, parameter counts cannot overflow a `u64`; MAC counts can, and the
//! elaborator adds them with checked arithmetic.

use super::ops::ShapeError;
use super::types::TensorType;

/// The most elements a tensor may hold (per example when batched): `i32::MAX`, the
/// kernels' limit.
pub const MAX_ELEMENTS: u64 = i32::MAX as u64;

/// The elements of `ty` (per example when batched); `None` past `u64::MAX`.
pub fn elements(ty: &TensorType) -> Option<u64> {
    ty.dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))
}

/// Fails with "tensor too large" when `ty`, the type of `what`, holds more than
/// [`MAX_ELEMENTS`] elements.
pub fn check(what: &str, ty: &TensorType) -> Result<(), ShapeError> {
    let n = elements(ty);
    if n.is_some_and(|n| n <= MAX_ELEMENTS) {
        return Ok(());
    }
    let count = n.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
    let per = if ty.batched { " per example" } else { "" };
    Err(ShapeError {
        message: format!(
            "tensor too large: {what} {ty} would hold {count} elements{per}; the limit is {MAX_ELEMENTS}"
        ),
        help: Some(
            "kernels index tensors with 32-bit integers; is a size far larger than intended?"
                .into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_itself_fits_and_one_more_does_not() {
        assert!(check("x", &TensorType::param(vec![MAX_ELEMENTS as usize])).is_ok());
        let e = check(
            "the weight",
            &TensorType::param(vec![MAX_ELEMENTS as usize + 1]),
        )
        .expect_err("over the limit");
        assert_eq!(
            e.message,
            "tensor too large: the weight [2147483648] would hold 2147483648 elements; the limit is 2147483647"
        );
    }

    #[test]
    fn products_past_u64_are_reported_not_wrapped() {
        let huge = TensorType::activation(vec![1 << 40, 1 << 40, 1 << 40]);
        assert_eq!(elements(&huge), None);
        let e = check("the output", &huge).expect_err("over the limit");
        assert!(
            e.message.contains("more than 2^64 elements per example"),
            "{}",
            e.message
        );
    }
}
