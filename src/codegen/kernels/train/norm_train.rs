//! (in progress: training-mode BN, pooling and pointwise gradients, losses, optimizers)
