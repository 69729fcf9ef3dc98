//! Folding across tasks for `--output summary`: an ordinary line whose shape another
//! task showed less than [`ACROSS_WINDOW`] ago is not shown again — ten workers that
//! print `job 4242 done in 12ms` read as one line, like one task's repeats do — and is
//! counted in the shared "not shown" note. Errors and warnings are never folded here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a shape shown by one task hides the same shape from the others.
pub const ACROSS_WINDOW: Duration = Duration::from_secs(2);
/// Shapes remembered before the old ones are dropped.
const REMEMBERED: usize = 4096;

/// The shapes shown lately, by which task and when.
#[derive(Debug, Default)]
pub struct Across {
    shown: HashMap<u64, (usize, Instant)>,
}

impl Across {
    pub fn new() -> Self {
        Across::default()
    }

    /// Whether task `task` may show a line of shape `shape` now: not when another task
    /// showed that shape within the window. A line that may be shown is recorded.
    pub fn may_show(&mut self, task: usize, shape: u64, now: Instant) -> bool {
        if let Some(&(by, at)) = self.shown.get(&shape) {
            if by != task && now.saturating_duration_since(at) < ACROSS_WINDOW {
                return false;
            }
        }
        if self.shown.len() >= REMEMBERED {
            self.shown
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < ACROSS_WINDOW);
        }
        self.shown.insert(shape, (task, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_tasks_recent_shape_is_folded_its_own_is_not() {
        let t0 = Instant::now();
        let mut a = Across::new();
        assert!(a.may_show(0, 7, t0));
        // The same task's next line of that shape is its folder's business.
        assert!(a.may_show(0, 7, t0 + Duration::from_millis(100)));
        assert!(!a.may_show(1, 7, t0 + Duration::from_millis(500)));
        assert!(a.may_show(1, 8, t0 + Duration::from_millis(500)));
        // After the window the shape is news again, for whoever prints it.
        assert!(a.may_show(1, 7, t0 + Duration::from_secs(3)));
        assert!(!a.may_show(0, 7, t0 + Duration::from_secs(4)));
    }

    #[test]
    fn memory_stays_bounded() {
        let t0 = Instant::now();
        let mut a = Across::new();
        for i in 0..(REMEMBERED as u64 * 3) {
            a.may_show(0, i, t0 + Duration::from_millis(i));
        }
        assert!(a.shown.len() <= REMEMBERED + 1, "{}", a.shown.len());
    }
}
