//! Class names: a class index plus the configured offset is a line of the model's labels file.

use std::sync::Arc;

/// A model's labels and the offset from class index to label line.
#[derive(Debug, Clone, Default)]
pub struct LabelMap {
    labels: Option<Arc<Vec<String>>>,
    offset: i64,
}

impl LabelMap {
    /// Labels where class index `i` is line `i + offset`; no labels when `None`.
    pub fn new(labels: Option<Arc<Vec<String>>>, offset: i64) -> LabelMap {
        LabelMap { labels, offset }
    }

    /// The label of `class`, if the labels file has one for it ("n/a" lines count as none).
    pub fn get(&self, class: usize) -> Option<String> {
        let line = usize::try_from(class as i64 + self.offset).ok()?;
        let label = self.labels.as_ref()?.get(line)?.trim();
        (!label.is_empty() && label != "n/a").then(|| label.to_string())
    }
}
