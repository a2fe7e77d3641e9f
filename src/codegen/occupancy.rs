//! How full an arena is over time: the memory planner's quick test that a value cannot go
//! into an arena, without looking at the arena's members.
//!
//! Values live at the same step never overlap in an arena, so if at some step of a new
//! value's life the values already there hold more than `ARENA_LEN - len` elements, no
//! offset fits it: [`super::memory`] skips the arena. Without this test, placing each value
//! looked at every member of every arena, and a deep model's training step (whose forward
//! activations all live until the backward pass, filling one arena after another) took time
//! quadratic in its depth: 48 s for the plan of a 8,000-layer training step.

/// Elements held at each step, as a segment tree with range add and range max.
pub(crate) struct Occupancy {
    /// Leaves: steps `0..size`.
    size: usize,
    /// `max[node]`: the most held at one step of the node's interval, counting adds made to
    /// the node and below it (not above).
    max: Vec<u32>,
    /// `add[node]`: elements added over the node's whole interval.
    add: Vec<u32>,
}

impl Occupancy {
    /// Nothing held at steps `0..steps`.
    pub fn new(steps: usize) -> Occupancy {
        let size = steps.max(1).next_power_of_two();
        Occupancy {
            size,
            max: vec![0; 2 * size],
            add: vec![0; 2 * size],
        }
    }

    /// `len` more elements are held over the inclusive steps `[first, last]`.
    pub fn hold(&mut self, (first, last): (usize, usize), len: u32) {
        self.update(1, 0, self.size - 1, first, last, len);
    }

    /// The most elements held at one step of `[first, last]`.
    pub fn peak(&self, (first, last): (usize, usize)) -> u32 {
        self.query(1, 0, self.size - 1, first, last)
    }

    fn update(&mut self, node: usize, lo: usize, hi: usize, first: usize, last: usize, len: u32) {
        if last < lo || hi < first {
            return;
        }
        if first <= lo && hi <= last {
            self.max[node] += len;
            self.add[node] += len;
            return;
        }
        let mid = (lo + hi) / 2;
        self.update(2 * node, lo, mid, first, last, len);
        self.update(2 * node + 1, mid + 1, hi, first, last, len);
        self.max[node] = self.add[node] + self.max[2 * node].max(self.max[2 * node + 1]);
    }

    fn query(&self, node: usize, lo: usize, hi: usize, first: usize, last: usize) -> u32 {
        if last < lo || hi < first {
            return 0;
        }
        if first <= lo && hi <= last {
            return self.max[node];
        }
        let mid = (lo + hi) / 2;
        let below = self.query(2 * node, lo, mid, first, last).max(self.query(
            2 * node + 1,
            mid + 1,
            hi,
            first,
            last,
        ));
        self.add[node] + below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_match_a_step_by_step_count() {
        let steps = 37;
        let holds = [
            ((0, 36), 5),
            ((3, 9), 7),
            ((9, 20), 2),
            ((21, 21), 11),
            ((30, 36), 1),
        ];
        let mut o = Occupancy::new(steps);
        let mut naive = vec![0u32; steps];
        for &(range, len) in &holds {
            o.hold(range, len);
            for n in &mut naive[range.0..=range.1] {
                *n += len;
            }
        }
        for first in 0..steps {
            for last in first..steps {
                let want = naive[first..=last].iter().copied().max().unwrap_or(0);
                assert_eq!(o.peak((first, last)), want, "[{first}, {last}]");
            }
        }
    }
}
