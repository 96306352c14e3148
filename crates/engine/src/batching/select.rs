//! Which waiting requests form the next batch, and whether it is worth forming yet: the
//! decisions of the dynamic batcher, kept apart from its locking and timing so that they can be
//! read and tested on their own.

/// How a model's batches are shaped (from `[dynamic_batching]` and `max_batch_size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchPolicy {
    /// Samples in one execution, at most.
    pub max_batch_size: usize,
    /// Sizes to stop at when they can be formed, ascending.
    pub preferred_batch_sizes: Vec<usize>,
}

impl BatchPolicy {
    pub(crate) fn new(max_batch_size: usize, mut preferred_batch_sizes: Vec<usize>) -> BatchPolicy {
        preferred_batch_sizes.sort_unstable();
        preferred_batch_sizes.dedup();
        BatchPolicy {
            max_batch_size: max_batch_size.max(1),
            preferred_batch_sizes,
        }
    }

    /// The requests (indices into `waiting`, in queue order) that the next batch takes.
    /// `waiting` gives, for each queued request in arrival order, whether it can share an
    /// execution with the oldest one (same inputs beyond the batch dimension, same outputs) and
    /// its sample count. The oldest request always goes; later compatible ones join in order
    /// while the batch stays within `max_batch_size`. When a prefix of them adds up to a
    /// preferred size, the batch stops at the largest such prefix.
    pub(crate) fn select(&self, waiting: impl IntoIterator<Item = (bool, usize)>) -> Vec<usize> {
        let mut chosen = Vec::new();
        let mut total = 0;
        let mut preferred_cut = None;
        for (index, (compatible, samples)) in waiting.into_iter().enumerate() {
            if index > 0 && !compatible {
                continue;
            }
            if index > 0 && total + samples > self.max_batch_size {
                break;
            }
            chosen.push(index);
            total += samples;
            if self.preferred_batch_sizes.contains(&total) {
                preferred_cut = Some(chosen.len());
            }
            if total >= self.max_batch_size {
                break;
            }
        }
        if let Some(cut) = preferred_cut {
            chosen.truncate(cut);
        }
        chosen
    }

    /// Whether `samples` waiting (as many as the next batch could take) make a batch that need
    /// not wait for more: the maximum, or at least the largest preferred size.
    pub(crate) fn is_full(&self, samples: usize) -> bool {
        samples >= self.max_batch_size
            || self
                .preferred_batch_sizes
                .last()
                .is_some_and(|largest| samples >= *largest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(n: usize) -> Vec<(bool, usize)> {
        vec![(true, 1); n]
    }

    #[test]
    fn takes_waiting_requests_in_order_up_to_the_maximum() {
        let policy = BatchPolicy::new(4, vec![]);
        assert_eq!(policy.select(ones(1)), vec![0]);
        assert_eq!(policy.select(ones(3)), vec![0, 1, 2]);
        assert_eq!(policy.select(ones(9)), vec![0, 1, 2, 3]);
        // A request of two samples that would overflow ends the batch.
        assert_eq!(
            policy.select([(true, 1), (true, 2), (true, 2), (true, 1)]),
            vec![0, 1]
        );
        // The oldest request goes even when it fills the batch alone.
        assert_eq!(policy.select([(true, 4), (true, 1)]), vec![0]);
    }

    #[test]
    fn requests_that_cannot_share_an_execution_wait_for_a_later_batch() {
        let policy = BatchPolicy::new(4, vec![]);
        assert_eq!(
            policy.select([(true, 1), (false, 1), (true, 1), (false, 2), (true, 1)]),
            vec![0, 2, 4]
        );
    }

    #[test]
    fn stops_at_the_largest_preferred_size_it_can_form() {
        let policy = BatchPolicy::new(8, vec![4, 2]);
        assert_eq!(policy.select(ones(3)), vec![0, 1]);
        assert_eq!(policy.select(ones(7)), vec![0, 1, 2, 3]);
        assert_eq!(policy.select(ones(1)), vec![0]);
        // No prefix adds up to a preferred size: everything that fits.
        assert_eq!(policy.select([(true, 3), (true, 2)]), vec![0, 1]);
    }

    #[test]
    fn a_batch_is_full_at_the_maximum_or_the_largest_preferred_size() {
        let plain = BatchPolicy::new(4, vec![]);
        assert!(!plain.is_full(3));
        assert!(plain.is_full(4));
        let preferred = BatchPolicy::new(8, vec![2, 4]);
        assert!(!preferred.is_full(3));
        assert!(preferred.is_full(4));
    }
}
