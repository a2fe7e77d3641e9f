//! Memory planning: intermediate values whose lifetimes do not overlap share one device
//! buffer (`Plan` → `Plan`).
//!
//! Lowering gives every value its own *logical* buffer. This pass computes each
//! intermediate (`BufferRole::Activation`) buffer's live range over step indices and
//! assigns logical buffers to *physical* buffers greedily: each goes into the smallest
//! physical buffer that is long enough and none of whose members is live at the same
//! time (best fit), else into the longest such buffer (which grows), else into a new
//! one. A physical buffer's length is the largest of its members'. The pass runs this
//! greedy in two orders, largest first and by birth, and keeps the smaller plan.
//!
//! Live ranges are inclusive step intervals `[first, last]`: `first` is the first step
//! that binds the buffer (lowering always writes a value before reading it: a step that
//! writes a concat slice, a reduction's scratch, an op's output), `last` the last step
//! that binds it. End-of-step `Assign` copies are ordinary steps, so a value copied into
//! a parameter lives until its copy; likewise a gradient lives until its parameter's fused
//! optimizer update (`super::optim_fusion`). Outputs are read back after the last step.
//! Inclusive ends matter: a value read for the last time by step `s` and a value first
//! written by step `s` are both bound by `s`, and wgpu forbids binding one buffer as
//! read-only and read-write in one dispatch.
//!
//! Invariants of the planned plan (checked by [`check`], which runs after the pass in
//! debug builds and in the tests):
//! * the rewrite is a renaming: same kernels, same steps, each logical buffer replaced
//!   by its physical buffer in `steps`, `inputs`, `outputs` and `logs`;
//! * parameters, logs and inputs are never shared (parameters and logs persist across
//!   runs, inputs are uploaded before each run) and keep their exact description;
//! * outputs are never shared either and keep their exact length, so the runtime's
//!   read-back of a whole buffer returns exactly the output's elements;
//! * no two logical buffers with overlapping live ranges share a physical buffer, hence
//!   no step binds one physical buffer both read-only and read-write, or read-write twice;
//! * every physical buffer is at least as long as each of its members.
//!
//! Kernels never read an element of their output binding that they have not written in
//! the same run (the GPU kernel tests start outputs as NaN to hold this), so a buffer's
//! stale contents from an earlier member are never observed.

use super::kernels::BindingKind;
use super::plan::{BufferDesc, BufferId, BufferRole, Plan};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

/// Whether [`super::plan::lower`] shares buffers between values with disjoint lifetimes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryPlanning {
    /// Plan memory (the default).
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

/// One physical buffer being filled: its size and its members' disjoint live ranges,
/// keyed by start step.
struct Slot {
    len: usize,
    ranges: BTreeMap<usize, usize>,
}

impl Slot {
    /// Whether `(start, end)` overlaps no member. Members are disjoint, so sorted by start
    /// they are sorted by end too: only the last member starting at or before `end` can
    /// reach `start`.
    fn is_free(&self, (start, end): (usize, usize)) -> bool {
        self.ranges
            .range(..=end)
            .next_back()
            .is_none_or(|(_, &e)| e < start)
    }
}

/// Assign the buffers of `order`, in that order, to slots: each goes to the slot free
/// over its whole live range that is the smallest at least its length (best fit), else
/// to the longest free slot, which grows, else to a new slot. Returns the slots and
/// each buffer's slot.
fn fill(
    order: &[usize],
    lens: &[usize],
    live: &[Option<(usize, usize)>],
) -> (Vec<Slot>, Vec<Option<usize>>) {
    let mut slots: Vec<Slot> = Vec::new();
    let mut slot_of: Vec<Option<usize>> = vec![None; lens.len()];
    for &i in order {
        let range = live[i].expect("shareable buffers are live");
        let len = lens[i];
        let free = || slots.iter().enumerate().filter(|(_, s)| s.is_free(range));
        let fits = free()
            .filter(|(_, s)| s.len >= len)
            .min_by_key(|(k, s)| (s.len, *k))
            .map(|(k, _)| k);
        let grows = || {
            free()
                .max_by_key(|(k, s)| (s.len, std::cmp::Reverse(*k)))
                .map(|(k, _)| k)
        };
        let k = match fits.or_else(grows) {
            Some(k) => k,
            None => {
                slots.push(Slot {
                    len,
                    ranges: BTreeMap::new(),
                });
                slots.len() - 1
            }
        };
        slots[k].len = slots[k].len.max(len);
        slots[k].ranges.insert(range.0, range.1);
        slot_of[i] = Some(k);
    }
    (slots, slot_of)
}

/// Share storage between intermediate buffers with disjoint live ranges (see the
/// module docs). A pure renaming of buffers; kernels and steps are untouched.
pub fn share_buffers(mut plan: Plan) -> Plan {
    let live = live_ranges(&plan);
    let outputs: HashSet<BufferId> = plan.outputs.iter().map(|(_, b, _)| *b).collect();
    let shareable = |i: usize| {
        plan.buffers[i].role == BufferRole::Activation
            && live[i].is_some()
            && !outputs.contains(&BufferId(i))
    };
    let candidates: Vec<usize> = (0..plan.buffers.len()).filter(|&i| shareable(i)).collect();
    let lens: Vec<usize> = plan.buffers.iter().map(|b| b.len).collect();
    // Two greedy orders, keeping the smaller result: largest first (slots never grow;
    // best when a few large values dominate) and by birth (interval colouring; best
    // when many similar values come and go). Ties break by index: deterministic.
    let mut by_size = candidates.clone();
    by_size.sort_by_key(|&i| (std::cmp::Reverse(lens[i]), live[i].map(|r| r.0), i));
    let mut by_birth = candidates;
    by_birth.sort_by_key(|&i| (live[i].map(|r| r.0), std::cmp::Reverse(lens[i]), i));
    let (slots, slot_of) = [by_size, by_birth]
        .iter()
        .map(|order| fill(order, &lens, &live))
        .min_by_key(|(slots, _)| slots.iter().map(|s| s.len).sum::<usize>())
        .expect("two orders");

    // Number physical buffers in logical order, so the printed plan reads like the
    // unplanned one; a shared buffer takes the name of its largest member.
    let mut buffers: Vec<BufferDesc> = Vec::new();
    let mut physical: Vec<Option<BufferId>> = vec![None; plan.buffers.len()];
    let mut slot_buffer: Vec<Option<BufferId>> = vec![None; slots.len()];
    let mut largest: Vec<Option<usize>> = vec![None; slots.len()];
    for (i, b) in plan.buffers.iter().enumerate() {
        if let Some(k) = slot_of[i]
            && largest[k].is_none_or(|j| plan.buffers[j].len < b.len)
        {
            largest[k] = Some(i);
        }
    }
    for (i, b) in plan.buffers.iter().enumerate() {
        physical[i] = match slot_of[i] {
            Some(k) => Some(*slot_buffer[k].get_or_insert_with(|| {
                let name = plan.buffers[largest[k].expect("slot has members")]
                    .name
                    .clone();
                buffers.push(BufferDesc {
                    name,
                    len: slots[k].len,
                    role: BufferRole::Activation,
                });
                BufferId(buffers.len() - 1)
            })),
            None if live[i].is_some() || b.role != BufferRole::Activation => {
                buffers.push(b.clone());
                Some(BufferId(buffers.len() - 1))
            }
            None => None,
        };
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
    if unplanned.inputs.len() != planned.inputs.len()
        || unplanned.outputs.len() != planned.outputs.len()
        || unplanned.logs.len() != planned.logs.len()
    {
        return Err("inputs or outputs differ".into());
    }

    // Sizes, roles, and which values are allowed to share at all.
    let live = live_ranges(unplanned);
    let outputs: HashSet<BufferId> = unplanned.outputs.iter().map(|(_, b, _)| *b).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); planned.buffers.len()];
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
        if pd.len < desc.len {
            return Err(format!(
                "{} needs {} elements but its buffer b{} holds {}",
                desc.name, desc.len, p.0, pd.len
            ));
        }
        if pd.role != desc.role {
            return Err(format!("{} changed role", desc.name));
        }
        if desc.role != BufferRole::Activation && pd != desc {
            return Err(format!("{} changed description", desc.name));
        }
        members[p.0].push(i);
    }
    for (p, ms) in members.iter().enumerate() {
        if ms.len() < 2 {
            continue;
        }
        if let Some(&i) = ms.iter().find(|&&i| {
            unplanned.buffers[i].role != BufferRole::Activation || outputs.contains(&BufferId(i))
        }) {
            return Err(format!(
                "b{p} shares {}, a parameter, input or output",
                unplanned.buffers[i].name
            ));
        }
        // Live ranges of one buffer's members must be pairwise disjoint.
        let mut ranges: Vec<(usize, usize, usize)> = ms
            .iter()
            .map(|&i| {
                let (s, e) = live[i].expect("a shared buffer's members are live");
                (s, e, i)
            })
            .collect();
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            if w[1].0 <= w[0].1 {
                return Err(format!(
                    "b{p} holds {} (steps {}..={}) and {} (steps {}..={}), live at once",
                    unplanned.buffers[w[0].2].name,
                    w[0].0,
                    w[0].1,
                    unplanned.buffers[w[1].2].name,
                    w[1].0,
                    w[1].1
                ));
            }
        }
    }
    // Checked after sharing, which would report an output sharing its buffer more
    // usefully: the runtime reads an output's whole buffer back.
    for (name, b, _) in &unplanned.outputs {
        let p = phys(*b)?;
        if planned.buffers[p.0].len != unplanned.buffers[b.0].len {
            return Err(format!(
                "output {name}'s buffer does not have its exact length"
            ));
        }
    }
    // Holds by the disjointness above; checked directly because it is what wgpu rejects.
    for (i, s) in planned.steps.iter().enumerate() {
        let k = &planned.kernels[s.kernel];
        for (a, (ba, ka)) in s.buffers.iter().zip(&k.bindings).enumerate() {
            for (bb, kb) in s.buffers.iter().zip(&k.bindings).skip(a + 1) {
                let conflict = *ka == BindingKind::ReadWrite || *kb == BindingKind::ReadWrite;
                if ba == bb && conflict {
                    return Err(format!(
                        "step {i} ({}) binds b{} twice, once read-write",
                        s.layer, ba.0
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

    /// `planned MiB (naive MiB unplanned)` for the plan's header line.
    pub(super) fn memory_summary(&self) -> String {
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        match &self.memory {
            Some(m) => format!(
                "{:.1} MiB planned ({:.1} MiB unplanned, {} values in {} buffers)",
                mib(self.total_bytes()),
                mib(m.naive_bytes()),
                m.logical.len(),
                self.buffers.len()
            ),
            None => format!("{:.1} MiB (memory planning off)", mib(self.total_bytes())),
        }
    }

    /// For each physical buffer, the values it stores when it is shared (empty when
    /// not), for the plan's buffer listing: `name@first-last` live ranges (step indices).
    pub(super) fn sharing_notes(&self) -> Vec<String> {
        let mut notes = vec![String::new(); self.buffers.len()];
        let Some(m) = &self.memory else {
            return notes;
        };
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); self.buffers.len()];
        for (i, p) in m.physical.iter().enumerate() {
            if let Some(p) = p {
                members[p.0].push(i);
            }
        }
        for (note, ms) in notes.iter_mut().zip(&members) {
            if ms.len() < 2 {
                continue;
            }
            note.push_str("  shared by");
            for &i in ms {
                let (s, e) = m.live[i].expect("members are live");
                let _ = write!(note, " {}@{s}-{e}", m.logical[i].name);
            }
        }
        notes
    }
}
