//! Memory planning: intermediate values are placed at offsets in a few large device
//! buffers (*arenas*), so that values whose lifetimes do not overlap reuse the same bytes
//! (`Plan` → `Plan`).
//!
//! Lowering gives every value its own *logical* buffer. This pass computes each
//! intermediate (`BufferRole::Activation`) buffer's live range over step indices and
//! packs them, largest first, into arenas: each value goes where it grows an arena least,
//! at the smallest gap between the values live at the same time that holds it (best
//! fit). Packing at offsets, rather than sharing whole buffers, lets two small values sit
//! where one large one lived: for the seed models' training steps it comes within 0.3% of
//! the lower bound, the most bytes live at one step. A value becomes a *view* (offset
//! and length) of its arena; kernels see only their binding and are unchanged.
//!
//! wgpu tracks usage per buffer, not per range, and forbids one dispatch binding a buffer
//! read-only and read-write: two values one step binds that way never share an arena
//! ([`conflicts`]); the seed models need four to six arenas. Arenas stop growing at
//! [`ARENA_LEN`] (WebGPU's default buffer-size limit) and offsets are multiples of
//! [`ARENA_ALIGN`] (its largest binding-offset alignment), so a plan binds on any device.
//!
//! Live ranges are inclusive step intervals `[first, last]`: `first` is the first step
//! that binds the buffer (lowering always writes a value before reading it: a step that
//! writes a concat slice, a reduction's scratch, an op's output), `last` the last step
//! that binds it. End-of-step `Assign` copies are ordinary steps, so a value copied into
//! a parameter lives until its copy; likewise a gradient lives until its parameter's fused
//! optimizer update (`super::optim_fusion`). Outputs are read back after the last step.
//! Inclusive ends matter: a value read for the last time by step `s` and a value first
//! written by step `s` are both bound by `s`, so they must not overlap.
//!
//! Invariants of the planned plan (checked by [`check`], which runs after the pass in
//! debug builds and in the tests):
//! * the rewrite is a renaming: same kernels, same steps, each used logical buffer
//!   replaced by its own physical buffer (same description) in `steps`, `inputs`,
//!   `outputs` and `logs`;
//! * parameters, logs, inputs and outputs are never placed in an arena (parameters and
//!   logs persist across runs, inputs are uploaded before each run, outputs are read back
//!   whole);
//! * a placement is aligned and lies inside its arena, and two values of one arena whose
//!   live ranges overlap do not overlap in memory;
//! * no step binds one arena (or one buffer) read-only through one binding and
//!   read-write through another, nor one buffer read-write twice.
//!
//! Kernels never read an element of their output binding that they have not written in
//! the same run (the GPU kernel tests start outputs as NaN to hold this), so an arena's
//! stale contents from an earlier value are never observed.

use super::kernels::BindingKind;
use super::occupancy::Occupancy;
use super::plan::{BufferDesc, BufferId, BufferRole, Plan};
use std::collections::{BTreeMap, HashSet};

/// Whether memory planning ([`run`], after lowering) lets values with disjoint lifetimes
/// reuse memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryPlanning {
    /// Place intermediate values in shared arenas (the default).
    #[default]
    Shared,
    /// One buffer per value, as lowered (for comparisons and debugging).
    Off,
}

/// How a planned plan's buffers relate to the logical buffers lowering made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryMap {
    /// The buffers as lowering made them, one per value (plus scratch buffers).
    pub logical: Vec<BufferDesc>,
    /// The physical buffer of each logical buffer; `None` for a buffer no step binds and
    /// no output names (it needs no storage).
    pub physical: Vec<Option<BufferId>>,
    /// Each logical buffer's live range, inclusive step indices (`steps.len()` stands
    /// for the read-back of outputs after the last step); `None` where unused.
    pub live: Vec<Option<(usize, usize)>>,
    /// Each arena's length in f32 elements.
    pub arenas: Vec<usize>,
    /// Where each physical buffer lives: `Some` for a view of an arena, `None` for a
    /// buffer of its own.
    pub placement: Vec<Option<Placement>>,
    /// The placement's work: arenas considered plus arena members looked at (placing a value
    /// in an arena reads every member there). A count, not a time, so tests can hold it to
    /// near-linear growth in the number of values on any machine.
    pub search_work: u64,
}

impl MemoryMap {
    /// Bytes the plan would take with one buffer per logical buffer.
    pub fn naive_bytes(&self) -> usize {
        self.logical.iter().map(|b| b.len * 4).sum()
    }
}

/// Each buffer's live range over step indices: the first and last step binding it, the
/// end extended to `steps.len()` for outputs (read back after the run). `None` for a
/// buffer nothing uses.
pub fn live_ranges(plan: &Plan) -> Vec<Option<(usize, usize)>> {
    let mut live: Vec<Option<(usize, usize)>> = vec![None; plan.buffers.len()];
    let mut touch = |b: BufferId, at: usize| {
        let r = live[b.0].get_or_insert((at, at));
        r.0 = r.0.min(at);
        r.1 = r.1.max(at);
    };
    for (i, s) in plan.steps.iter().enumerate() {
        for &b in &s.buffers {
            touch(b, i);
        }
    }
    for (_, b, _) in &plan.outputs {
        touch(*b, plan.steps.len());
    }
    live
}

/// Alignment of a placement, in f32 elements: 256 bytes, the largest
/// `min_storage_buffer_offset_alignment` WebGPU allows, so a plan binds on every device.
pub const ARENA_ALIGN: usize = 64;

/// Elements one arena grows to before the planner opens another (256 MiB, WebGPU's
/// default `max_buffer_size`, which every device offers). A value longer than this gets an
/// arena of its own length.
pub const ARENA_LEN: usize = 64 << 20;

/// Where memory planning put a buffer: `len` elements from element `offset` of arena
/// `arena` (a multiple of [`ARENA_ALIGN`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub arena: usize,
    pub offset: usize,
}

/// One arena being filled: its length, its members as `(offset, end offset, buffer)` →
/// live range, in offset order, and how full it is at each step.
struct Arena {
    len: usize,
    members: BTreeMap<(usize, usize, usize), (usize, usize)>,
    occupancy: Occupancy,
}

impl Arena {
    fn new(steps: usize) -> Arena {
        Arena {
            len: 0,
            members: BTreeMap::new(),
            occupancy: Occupancy::new(steps),
        }
    }

    /// The offset where `len` elements live over `range` fit best: the smallest gap
    /// between the members live at the same time that holds them, else the end of the
    /// highest of those members.
    fn best_offset(&self, len: usize, (start, end): (usize, usize)) -> usize {
        // Members are kept in offset order, so those live at the same time come sorted.
        let busy = self
            .members
            .iter()
            .filter(|(_, r)| r.0 <= end && start <= r.1)
            .map(|(m, _)| (m.0, m.1));
        let mut best: Option<(usize, usize)> = None; // (gap, offset)
        let mut free_from = 0;
        for (lo, hi) in busy {
            if lo >= free_from + len && best.is_none_or(|(gap, _)| lo - free_from < gap) {
                best = Some((lo - free_from, free_from));
            }
            free_from = free_from.max(hi);
        }
        best.map_or(free_from, |(_, offset)| offset)
    }

    /// The most elements the members hold at one step of `range` (counting only what lies
    /// below [`ARENA_LEN`]). Members live at one step never overlap, so at that step at
    /// most `len - peak` of a new value fits below the arena's end: it bounds the growth
    /// [`Arena::best_offset`] can give from below, without looking at the members.
    fn peak(&self, range: (usize, usize)) -> usize {
        self.occupancy.peak(range) as usize
    }

    fn insert(&mut self, offset: usize, len: usize, range: (usize, usize), buffer: usize) {
        self.len = self.len.max(offset + len);
        self.members.insert((offset, offset + len, buffer), range);
        // The part below ARENA_LEN, which `peak` is about (only a value longer than
        // ARENA_LEN, alone at offset 0 of its arena, reaches past it).
        let held = (offset + len).min(ARENA_LEN).saturating_sub(offset);
        self.occupancy.hold(range, held as u32);
    }
}

/// Pairs of buffers one step binds through different bindings, one of them read-write:
/// they may not share an arena, since wgpu forbids binding one buffer read-only and
/// read-write in one dispatch (and a region of an arena is bound as the whole arena).
fn conflicts(plan: &Plan) -> Vec<Vec<usize>> {
    let mut with: Vec<Vec<usize>> = vec![Vec::new(); plan.buffers.len()];
    for s in &plan.steps {
        let k = &plan.kernels[s.kernel];
        let of = |kind: BindingKind| {
            s.buffers
                .iter()
                .zip(&k.bindings)
                .filter(move |(_, b)| **b == kind)
                .map(|(x, _)| x.0)
        };
        for r in of(BindingKind::ReadOnly) {
            for w in of(BindingKind::ReadWrite).filter(|&w| w != r) {
                with[r].push(w);
                with[w].push(r);
            }
        }
    }
    for c in &mut with {
        c.sort_unstable();
        c.dedup();
    }
    with
}

/// Place the buffers of `order`, in that order, into arenas: each goes into the arena
/// (among those holding nothing it [`conflicts`] with) where it grows the arena least,
/// at the best-fitting offset there ([`Arena::best_offset`]); ties go to the first
/// arena. Returns the arenas, each buffer's placement and the work it took
/// ([`MemoryMap::search_work`]).
fn pack(
    order: &[usize],
    lens: &[usize],
    live: &[Option<(usize, usize)>],
    conflicts: &[Vec<usize>],
) -> (Vec<Arena>, Vec<Option<Placement>>, u64) {
    let mut work = 0u64;
    let steps = order
        .iter()
        .filter_map(|&i| live[i].map(|r| r.1 + 1))
        .max()
        .unwrap_or(0);
    let mut arenas: Vec<Arena> = Vec::new();
    let mut placed: Vec<Option<Placement>> = vec![None; lens.len()];
    for &i in order {
        let range = live[i].expect("placed buffers are live");
        // Empty values still take one aligned element: wgpu rejects empty bindings.
        let len = lens[i].max(1).next_multiple_of(ARENA_ALIGN);
        let taken: HashSet<usize> = conflicts[i]
            .iter()
            .filter_map(|&j| placed[j].map(|p| p.arena))
            .collect();
        let mut best: Option<(usize, usize, usize)> = None; // (growth, arena, offset)
        for (k, a) in arenas.iter().enumerate() {
            if taken.contains(&k) {
                continue;
            }
            work += 1;
            // Skip, without looking at its members, an arena that cannot hold the value
            // below ARENA_LEN, or cannot beat the best arena so far (ties go to the first).
            let peak = a.peak(range);
            let least_growth = (peak + len).saturating_sub(a.len);
            if (len <= ARENA_LEN && peak + len > ARENA_LEN)
                || best.is_some_and(|(g, _, _)| least_growth >= g)
            {
                continue;
            }
            work += a.members.len() as u64;
            let offset = a.best_offset(len, range);
            if offset + len > ARENA_LEN.max(len) {
                continue;
            }
            let growth = (offset + len).saturating_sub(a.len);
            if best.is_none_or(|(g, _, _)| growth < g) {
                best = Some((growth, k, offset));
            }
            // No later arena can do better than no growth (ties go to the first).
            if growth == 0 {
                break;
            }
        }
        let (arena, offset) = match best {
            Some((_, k, offset)) => (k, offset),
            None => {
                arenas.push(Arena::new(steps));
                (arenas.len() - 1, 0)
            }
        };
        arenas[arena].insert(offset, len, range, i);
        placed[i] = Some(Placement { arena, offset });
    }
    (arenas, placed, work)
}

/// The memory-planning step: `unplanned` as lowered, placed per `planning`. Debug and test
/// builds check the result against the unplanned plan, so every plan any test lowers
/// through the pipeline is checked.
pub fn run(unplanned: Plan, planning: MemoryPlanning) -> Plan {
    if planning == MemoryPlanning::Off {
        return unplanned;
    }
    #[cfg(debug_assertions)]
    {
        let planned = place_buffers(unplanned.clone());
        if let Err(e) = check(&unplanned, &planned) {
            panic!("memory planning broke an invariant (a compiler bug): {e}");
        }
        planned
    }
    #[cfg(not(debug_assertions))]
    place_buffers(unplanned)
}

/// Place intermediate values in a few large arenas (see the module docs). Buffers are
/// renumbered (unused ones dropped); kernels and steps are untouched.
pub fn place_buffers(mut plan: Plan) -> Plan {
    let live = live_ranges(&plan);
    let outputs: HashSet<BufferId> = plan.outputs.iter().map(|(_, b, _)| *b).collect();
    let placeable = |i: usize| {
        plan.buffers[i].role == BufferRole::Activation
            && live[i].is_some()
            && !outputs.contains(&BufferId(i))
    };
    let mut order: Vec<usize> = (0..plan.buffers.len()).filter(|&i| placeable(i)).collect();
    let lens: Vec<usize> = plan.buffers.iter().map(|b| b.len).collect();
    // Largest first: big values claim space early, small ones fill the gaps they leave.
    // Ties break by birth, then index: deterministic.
    order.sort_by_key(|&i| (std::cmp::Reverse(lens[i]), live[i].map(|r| r.0), i));
    let (arenas, placed, search_work) = pack(&order, &lens, &live, &conflicts(&plan));

    // Every used buffer keeps its description; unused intermediates get no storage.
    let mut buffers: Vec<BufferDesc> = Vec::new();
    let mut placement: Vec<Option<Placement>> = Vec::new();
    let mut physical: Vec<Option<BufferId>> = vec![None; plan.buffers.len()];
    for (i, b) in plan.buffers.iter().enumerate() {
        if live[i].is_some() || b.role != BufferRole::Activation {
            buffers.push(b.clone());
            placement.push(placed[i]);
            physical[i] = Some(BufferId(buffers.len() - 1));
        }
    }
    let map = |b: BufferId| physical[b.0].expect("a bound buffer has a physical buffer");
    for s in &mut plan.steps {
        for b in &mut s.buffers {
            *b = map(*b);
        }
    }
    for (_, b) in &mut plan.inputs {
        *b = map(*b);
    }
    for (_, b, _) in &mut plan.outputs {
        *b = map(*b);
    }
    for (_, b) in &mut plan.logs {
        *b = map(*b);
    }
    let logical = std::mem::replace(&mut plan.buffers, buffers);
    plan.memory = Some(MemoryMap {
        logical,
        physical,
        live,
        arenas: arenas.iter().map(|a| a.len).collect(),
        placement,
        search_work,
    });
    plan
}

/// Check that `planned` is a valid memory plan of `unplanned` (the invariants in the
/// module docs). Returns the first violation found.
pub fn check(unplanned: &Plan, planned: &Plan) -> Result<(), String> {
    let Some(mem) = &planned.memory else {
        return Err("the planned plan carries no memory map".into());
    };
    if mem.logical != unplanned.buffers {
        return Err("the memory map's logical buffers are not the unplanned buffers".into());
    }
    if mem.placement.len() != planned.buffers.len() {
        return Err("the memory map does not place every physical buffer".into());
    }
    let phys = |b: BufferId| -> Result<BufferId, String> {
        let p = mem
            .physical
            .get(b.0)
            .copied()
            .flatten()
            .ok_or_else(|| format!("logical b{} has no physical buffer", b.0))?;
        if p.0 >= planned.buffers.len() {
            return Err(format!("logical b{} maps to missing b{}", b.0, p.0));
        }
        Ok(p)
    };
    // A renaming: same kernels, steps bind the physical buffers of the same values.
    if planned.kernels != unplanned.kernels || planned.steps.len() != unplanned.steps.len() {
        return Err("kernels or steps differ".into());
    }
    for (i, (a, b)) in unplanned.steps.iter().zip(&planned.steps).enumerate() {
        let mapped = a
            .buffers
            .iter()
            .map(|&x| phys(x))
            .collect::<Result<Vec<_>, _>>()?;
        if a.kernel != b.kernel || a.layer != b.layer || mapped != b.buffers {
            return Err(format!("step {i} ({}) is not a renaming", a.layer));
        }
    }
    if unplanned.inputs.len() != planned.inputs.len()
        || unplanned.outputs.len() != planned.outputs.len()
        || unplanned.logs.len() != planned.logs.len()
    {
        return Err("inputs or outputs differ".into());
    }
    for ((an, ab), (bn, bb)) in unplanned.inputs.iter().zip(&planned.inputs) {
        if an != bn || phys(*ab)? != *bb {
            return Err(format!("input {an} is not renamed consistently"));
        }
    }
    for ((an, ab, ad), (bn, bb, bd)) in unplanned.outputs.iter().zip(&planned.outputs) {
        if an != bn || ad != bd || phys(*ab)? != *bb {
            return Err(format!("output {an} is not renamed consistently"));
        }
    }
    for ((an, ab), (bn, bb)) in unplanned.logs.iter().zip(&planned.logs) {
        if an != bn || phys(*ab)? != *bb {
            return Err(format!("the log of {an} is not renamed consistently"));
        }
    }

    // Each used value has a physical buffer of its own, with its description.
    let live = live_ranges(unplanned);
    let mut owner: Vec<Option<usize>> = vec![None; planned.buffers.len()];
    for (i, desc) in unplanned.buffers.iter().enumerate() {
        let Some(p) = mem.physical[i] else {
            if live[i].is_some() || desc.role != BufferRole::Activation {
                return Err(format!("{} (b{i}) is used but has no storage", desc.name));
            }
            continue;
        };
        let pd = planned
            .buffers
            .get(p.0)
            .ok_or_else(|| format!("{} maps to missing b{}", desc.name, p.0))?;
        if pd != desc {
            return Err(format!("{} changed description", desc.name));
        }
        if let Some(j) = owner[p.0].replace(i) {
            return Err(format!(
                "b{} holds both {} and {}",
                p.0, unplanned.buffers[j].name, desc.name
            ));
        }
    }

    // Placements: only intermediates, aligned, inside their arena.
    let outputs: HashSet<BufferId> = unplanned.outputs.iter().map(|(_, b, _)| *b).collect();
    // Per arena: (first element, end, live range, logical buffer) of each member.
    type Member = (usize, usize, (usize, usize), usize);
    let mut members: Vec<Vec<Member>> = vec![Vec::new(); mem.arenas.len()];
    for (p, placement) in mem.placement.iter().enumerate() {
        let Some(Placement { arena, offset }) = *placement else {
            continue;
        };
        let i = owner[p].ok_or_else(|| format!("b{p} is placed but holds no value"))?;
        let desc = &unplanned.buffers[i];
        if desc.role != BufferRole::Activation || outputs.contains(&BufferId(i)) {
            return Err(format!(
                "{} is a parameter, input or output placed in arena {arena}",
                desc.name
            ));
        }
        if !offset.is_multiple_of(ARENA_ALIGN) {
            return Err(format!("{} sits at misaligned offset {offset}", desc.name));
        }
        let end = offset + desc.len.max(1);
        let Some(&arena_len) = mem.arenas.get(arena) else {
            return Err(format!("{} is placed in missing arena {arena}", desc.name));
        };
        if end > arena_len {
            return Err(format!(
                "{} needs elements {offset}..{end} but arena {arena} holds {arena_len}",
                desc.name
            ));
        }
        let range = live[i].ok_or_else(|| format!("{} is placed but never used", desc.name))?;
        members[arena].push((offset, end, range, i));
    }
    // Values live at the same time do not overlap in memory.
    for (arena, ms) in members.iter_mut().enumerate() {
        ms.sort_unstable();
        for (k, a) in ms.iter().enumerate() {
            // Sorted by offset: only members starting before `a` ends can overlap it.
            for b in ms[k + 1..].iter().take_while(|b| b.0 < a.1) {
                if a.2.0 <= b.2.1 && b.2.0 <= a.2.1 {
                    let name = |m: &Member| unplanned.buffers[m.3].name.clone();
                    return Err(format!(
                        "arena {arena} holds {} (steps {}..={}, elements {}..{}) and {} \
                         (steps {}..={}, elements {}..{}) in the same memory, live at once",
                        name(a),
                        a.2.0,
                        a.2.1,
                        a.0,
                        a.1,
                        name(b),
                        b.2.0,
                        b.2.1,
                        b.0,
                        b.1
                    ));
                }
            }
        }
    }
    // What wgpu rejects: one buffer (an arena counts as one) bound read-only and
    // read-write in one dispatch, or one buffer bound read-write twice.
    let storage = |b: BufferId| match mem.placement[b.0] {
        Some(p) => (true, p.arena),
        None => (false, b.0),
    };
    for (i, s) in planned.steps.iter().enumerate() {
        let k = &planned.kernels[s.kernel];
        for (a, (ba, ka)) in s.buffers.iter().zip(&k.bindings).enumerate() {
            for (bb, kb) in s.buffers.iter().zip(&k.bindings).skip(a + 1) {
                let rw = (*ka == BindingKind::ReadWrite, *kb == BindingKind::ReadWrite);
                let conflict = if ba == bb {
                    rw.0 || rw.1
                } else {
                    storage(*ba) == storage(*bb) && rw.0 != rw.1
                };
                if conflict {
                    return Err(format!(
                        "step {i} ({}) binds b{} and b{} in one buffer, once read-write",
                        s.layer, ba.0, bb.0
                    ));
                }
            }
        }
    }
    Ok(())
}

impl Plan {
    /// Bytes with one buffer per logical buffer, as lowered before memory planning.
    pub fn naive_bytes(&self) -> usize {
        self.memory
            .as_ref()
            .map_or_else(|| self.total_bytes(), MemoryMap::naive_bytes)
    }

    /// Where memory planning put buffer `b`: `None` when it has storage of its own.
    pub fn placement(&self, b: BufferId) -> Option<Placement> {
        self.memory.as_ref().and_then(|m| m.placement[b.0])
    }

    /// The arenas' lengths in f32 elements (none without memory planning).
    pub fn arenas(&self) -> &[usize] {
        self.memory.as_ref().map_or(&[], |m| &m.arenas)
    }

    /// `planned MiB (naive MiB unplanned)` for the plan's header line.
    pub(super) fn memory_summary(&self) -> String {
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        match &self.memory {
            Some(m) => format!(
                "{:.1} MiB planned ({:.1} MiB unplanned, {} intermediates in {} arenas)",
                mib(self.total_bytes()),
                mib(m.naive_bytes()),
                m.placement.iter().flatten().count(),
                m.arenas.len()
            ),
            None => format!("{:.1} MiB (memory planning off)", mib(self.total_bytes())),
        }
    }

    /// Each buffer's placement for the plan's buffer listing (`  @a0+4096`, arena and
    /// element offset), empty when it has its own storage.
    pub(super) fn placement_notes(&self) -> Vec<String> {
        (0..self.buffers.len())
            .map(|b| {
                self.placement(BufferId(b))
                    .map(|p| format!("  @a{}+{}", p.arena, p.offset))
                    .unwrap_or_default()
            })
            .collect()
    }
}
