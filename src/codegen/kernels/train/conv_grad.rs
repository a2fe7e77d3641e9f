//! (in progress: conv/linear gradients and reductions)
