//! Lines of several containers, each already in time order, merged into one time order (a k-way merge).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Merges sorted runs by `key`; on equal keys the earlier run comes first, so the result is stable.
pub fn merge_sorted<T, K: Ord>(runs: Vec<Vec<T>>, key: impl Fn(&T) -> K) -> Vec<T> {
    let total = runs.iter().map(Vec::len).sum();
    let mut iters: Vec<_> = runs.into_iter().map(|r| r.into_iter().peekable()).collect();
    let mut heap = BinaryHeap::new();
    for (i, it) in iters.iter_mut().enumerate() {
        if let Some(first) = it.peek() {
            heap.push(Reverse((key(first), i)));
        }
    }
    let mut out = Vec::with_capacity(total);
    while let Some(Reverse((_, i))) = heap.pop() {
        let Some(item) = iters[i].next() else { continue };
        out.push(item);
        if let Some(next) = iters[i].peek() {
            heap.push(Reverse((key(next), i)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_interleave_by_key_and_ties_keep_run_order() {
        let runs = vec![vec![(1, "a1"), (4, "a4"), (4, "a4b")], vec![(2, "b2"), (4, "b4")], vec![], vec![(0, "c0")]];
        let merged: Vec<_> = merge_sorted(runs, |(k, _)| *k).into_iter().map(|(_, v)| v).collect();
        assert_eq!(merged, ["c0", "a1", "b2", "a4", "a4b", "b4"]);
    }
}
