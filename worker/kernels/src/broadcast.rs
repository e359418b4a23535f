//! Broadcasting an input chunk over a layer's chunk (NumPy's broadcasting rules, with
//! the axis map of `Instr::InputBroadcast`).

/// The values of an input chunk of `in_shape` repeated over a chunk of `out_shape`:
/// input axis `k` is output axis `axes[k]` (-1: an input axis of length 1 that the
/// output has not); an input axis of length 1 repeats along its output axis, and
/// output axes no input axis maps to repeat the whole input.
pub fn expand(values: &[f64], in_shape: &[usize], axes: &[i32], out_shape: &[usize]) -> Vec<f64> {
    let n: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    // The input's stride along each output axis (0 where it repeats).
    let mut strides = vec![0usize; out_shape.len()];
    let mut stride = 1;
    for k in (0..in_shape.len()).rev() {
        if let Ok(d) = usize::try_from(axes[k])
            && in_shape[k] != 1
        {
            strides[d] = stride;
        }
        stride *= in_shape[k];
    }
    let inner = out_shape.len().saturating_sub(1);
    let (inner_len, inner_stride) = match out_shape.last() {
        Some(&len) => (len, strides[inner]),
        None => (1, 0),
    };
    let outer: Vec<usize> = out_shape[..inner.min(out_shape.len())].to_vec();
    let mut idx = vec![0usize; outer.len()];
    loop {
        let base: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        if inner_stride == 0 {
            out.extend(std::iter::repeat_n(values[base], inner_len));
        } else {
            out.extend_from_slice(&values[base..base + inner_len]);
        }
        let mut axis = outer.len();
        loop {
            if axis == 0 {
                return out;
            }
            axis -= 1;
            idx[axis] += 1;
            if idx[axis] < outer[axis] {
                break;
            }
            idx[axis] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        // (3,) over (2, 3): rows repeat.
        let v = [1.0, 2.0, 3.0];
        assert_eq!(
            expand(&v, &[3], &[1], &[2, 3]),
            [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        // (2, 1) over (2, 3): columns repeat.
        assert_eq!(
            expand(&[1.0, 2.0], &[2, 1], &[0, 1], &[2, 3]),
            [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        // (1, 3) with its first axis dropped, over (2, 3).
        assert_eq!(
            expand(&v, &[1, 3], &[-1, 1], &[2, 3]),
            [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        // (2, 1) with its last axis dropped, as the middle axis of (1, 2, 2).
        assert_eq!(
            expand(&[5.0, 6.0], &[2, 1], &[1, -1], &[1, 2, 2]),
            [5.0, 5.0, 6.0, 6.0]
        );
        // Scalars and empty chunks.
        assert_eq!(expand(&[7.0], &[], &[], &[2]), [7.0, 7.0]);
        assert_eq!(expand(&[7.0], &[1], &[0], &[]), [7.0]);
        assert!(expand(&v, &[3], &[1], &[0, 3]).is_empty());
    }
}
