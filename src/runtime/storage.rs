//! How values cross between the host, which holds every tensor as f32, and device buffers
//! that store them as [`Elem`]: f32 as it is, f16 packed two to a 32-bit word (the unit every
//! netc buffer is sized and copied in), rounded to nearest even as WGSL's `f16(x)` does.

use crate::codegen::kernels::Elem;
use half::f16;

/// `data` as the 32-bit words of a buffer storing `elem` (the last word of an odd-length
/// f16 buffer is padded with a zero).
pub fn encode(elem: Elem, data: &[f32]) -> Vec<f32> {
    match elem {
        Elem::F32 => data.to_vec(),
        Elem::F16 => data
            .chunks(2)
            .map(|pair| {
                let lo = f16::from_f32(pair[0]).to_bits();
                let hi = pair.get(1).map_or(0, |&v| f16::from_f32(v).to_bits());
                f32::from_bits(u32::from(lo) | (u32::from(hi) << 16))
            })
            .collect(),
    }
}

/// The first `len` values of a buffer storing `elem`, read back as `words`.
pub fn decode(elem: Elem, words: &[f32], len: usize) -> Vec<f32> {
    match elem {
        Elem::F32 => words[..len.min(words.len())].to_vec(),
        Elem::F16 => words
            .iter()
            .flat_map(|w| {
                let bits = w.to_bits();
                [bits as u16, (bits >> 16) as u16]
            })
            .take(len)
            .map(|b| f16::from_bits(b).to_f32())
            .collect(),
    }
}

/// `v` rounded to the nearest f16 and back: what storing it in an f16 buffer keeps.
pub fn round_f16(v: f32) -> f32 {
    f16::from_f32(v).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips_through_words() {
        let data = [1.0, -2.5, 65504.0, 1e-8, 3.0];
        let words = encode(Elem::F16, &data);
        assert_eq!(words.len(), 3);
        let back = decode(Elem::F16, &words, data.len());
        assert_eq!(back, vec![1.0, -2.5, 65504.0, round_f16(1e-8), 3.0]);
        assert_eq!(
            decode(Elem::F32, &encode(Elem::F32, &data), 5),
            data.to_vec()
        );
    }
}
