//! The CPU reference of softmax, the loss and its companions, in f64: plain loops, written to be
//! checked by eye and against PyTorch. Labels are f32 class indices on the host. The
//! interpreter (`reference::ops`, `reference::train_ops`) calls these for
//! `Op::{Softmax, SoftmaxCrossEntropy}` and `TrainOp::{SoftmaxCrossEntropyGrad, CorrectCount}`.

use crate::tensor::{Element, Tensor};

/// Softmax of each row of `x [N,K]`, max-subtracted.
pub fn softmax<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    let k = x.dims[1];
    let mut out = x.clone();
    for row in out.data.chunks_mut(k) {
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(b.to_f64()));
        let z: f64 = row.iter().map(|&v| (v.to_f64() - m).exp()).sum();
        for v in row.iter_mut() {
            *v = T::from_f64((v.to_f64() - m).exp() / z);
        }
    }
    out
}

/// Mean over the batch of `-log softmax(logits)[label]`; labels are stored as f32
/// class indices on the host.
pub fn cross_entropy<T: Element>(logits: &Tensor<T>, labels: &Tensor<T>) -> Tensor<T> {
    let (n, k) = (logits.dims[0], logits.dims[1]);
    let mut total = 0.0;
    for (row, &label) in logits.data.chunks(k).zip(&labels.data) {
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(b.to_f64()));
        let lse = m + row
            .iter()
            .map(|&v| (v.to_f64() - m).exp())
            .sum::<f64>()
            .ln();
        total += lse - row[label.to_f64() as usize].to_f64();
    }
    Tensor::new(vec![], vec![T::from_f64(total / n.max(1) as f64)])
}

/// The mean cross-entropy's gradient with respect to the logits:
/// `(softmax(logits) - onehot(labels)) / N`.
pub fn cross_entropy_grad<T: Element>(logits: &Tensor<T>, labels: &Tensor<T>) -> Tensor<T> {
    let (n, k) = (logits.dims[0], logits.dims[1]);
    let mut out = Vec::with_capacity(n * k);
    for (row, &label) in logits.data.chunks(k).zip(&labels.data) {
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(b.to_f64()));
        let z: f64 = row.iter().map(|&v| (v.to_f64() - m).exp()).sum();
        for (j, &v) in row.iter().enumerate() {
            let p = (v.to_f64() - m).exp() / z
                - if j == label.to_f64() as usize {
                    1.0
                } else {
                    0.0
                };
            out.push(T::from_f64(p / n as f64));
        }
    }
    Tensor::new(vec![n, k], out)
}

/// The number of rows whose first maximum (as `torch.argmax`) is the label, as a scalar.
pub fn correct_count<T: Element>(logits: &Tensor<T>, labels: &Tensor<T>) -> Tensor<T> {
    let k = logits.dims[1];
    let correct = logits
        .data
        .chunks(k)
        .zip(&labels.data)
        .filter(|(row, label)| {
            // First maximum, like torch.argmax.
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            best == label.to_f64() as usize
        })
        .count();
    Tensor::new(vec![], vec![T::from_f64(correct as f64)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_of_uniform_logits_is_log_k() {
        let logits = Tensor::zeros(vec![2, 10]);
        let labels = Tensor::new(vec![2], vec![3.0, 7.0]);
        let l = cross_entropy(&logits, &labels);
        assert!((l.data[0] - 10f32.ln()).abs() < 1e-6);
    }
}
