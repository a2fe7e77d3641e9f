//! Softmax over the last dimension (`softmax.wgsl`, beside this file): `x: [rows, len]`,
//! numerically stable (max-subtracted), like `torch.softmax(x, dim=-1)`.

use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    BindingKind, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS, check_loops, ensure,
    fit_u32, grid_1d, reduction_wg, storage_vars,
};

const TEMPLATE: &str = include_str!("softmax.wgsl");

/// Softmax of each of `rows` rows of length `len`. Bindings: `x`, `y`.
pub fn softmax(rows: u32, len: u32, elem: Elem) -> Result<KernelSource, KernelError> {
    const OP: &str = "softmax";
    ensure(OP, rows > 0 && len > 0, || "empty tensor".into())?;
    fit_u32(
        OP,
        "elements",
        u64::from(rows) * u64::from(len),
        MAX_ELEMENTS,
    )?;
    let wg = reduction_wg(len);
    // Three passes over the row share per invocation.
    check_loops(OP, 3 * u64::from(len.div_ceil(wg)))?;
    let workgroups = grid_1d(OP, u64::from(rows))?;
    let vars = Vars::new()
        .u32("ROWS", rows)
        .u32("LEN", len)
        .u32("WG", wg)
        .u32("GRID_X", workgroups[0]);
    let vars = storage_vars(vars, elem, 1);
    Ok(KernelSource {
        name: format!("softmax_{rows}x{len}{}", elem.suffix()),
        wgsl: render("ops/loss/softmax.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [wg, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}
