//! The reference GEMM (`gemm_reference.wgsl`, beside this file): the fastest plain WGSL matrix multiply
//! measured on lavapipe, used only as a yardstick. Conv throughput is reported as a ratio to
//! it, measured in the same process, because lavapipe's absolute speed varies ~8x between
//! machines of the same kind (shared/notes/lavapipe.md).

use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    BindingKind, ENTRY_POINT, KernelError, KernelSource, check_loops, ensure,
};

const TEMPLATE: &str = include_str!("gemm_reference.wgsl");

/// `C [m, n] = Aᵀ [k, m]ᵀ B [k, n]`, each invocation computing `tm` rows x `4 * tnv` columns,
/// in `wg_m x wg_n` workgroups. Bindings: `AT` (read), `B` (read), `C` (written).
///
/// Every dimension must be a multiple of its block (`tm * wg_m` rows, `4 * tnv * wg_n`
/// columns): the reference has no edge handling, like the GEMMs it stands for.
pub fn gemm_reference(
    (m, n, k): (u32, u32, u32),
    (tm, tnv): (u32, u32),
    (wg_m, wg_n): (u32, u32),
) -> Result<KernelSource, KernelError> {
    const OP: &str = "gemm_reference";
    ensure(OP, tm > 0 && tm % 4 == 0 && tnv > 0, || {
        format!("tile {tm}x{tnv} vec4 must have rows a multiple of 4")
    })?;
    ensure(
        OP,
        m % (tm * wg_m) == 0 && n % (4 * tnv * wg_n) == 0 && k > 0,
        || format!("{m}x{n}x{k} is not a multiple of the block"),
    )?;
    check_loops(OP, u64::from(k))?;
    let vars = Vars::new()
        .u32("M", m)
        .u32("N", n)
        .u32("K", k)
        .u32("TM", tm)
        .u32("TNV", tnv)
        .count("TMV", tm / 4)
        .count("LANES", 4)
        .count("TNV", tnv)
        .u32("WG_M", wg_m)
        .u32("WG_N", wg_n);
    Ok(KernelSource {
        name: format!("gemm_reference_{m}x{n}x{k}_{tm}x{}", 4 * tnv),
        wgsl: render("ops/linear/gemm_reference.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups: [m / (tm * wg_m), n / (4 * tnv * wg_n), 1],
        workgroup_size: [wg_m, wg_n, 1],
        bindings: vec![
            BindingKind::ReadOnly,
            BindingKind::ReadOnly,
            BindingKind::ReadWrite,
        ],
    })
}
